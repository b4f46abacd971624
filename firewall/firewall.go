package firewall

import (
	"fmt"
	"net/http"
	"sync/atomic"
)

// Filter decides whether a flow may pass. *Firewall (the rule set in
// force, swapped atomically on reload) and *RuleSet implement it; a
// Listener, an HTTPFilter and a DNSGuard take any Filter, so a filter of
// your own (a reputation feed, a geography check, a composition of
// others) plugs in where a Firewall would.
//
// Decide is called on every accepted connection, request or query, from
// many goroutines at once: it must be safe for concurrent use, should not
// block, and must not retain f. The entry points hand it normalised
// addresses (IPv4-mapped IPv6 unmapped, no zone); Flow.Src is invalid for
// a peer that is no IP address (a Unix socket), which should get the
// filter's default. Only Verdict.Action is enforced; Rule is logged.
//
// A Filter that also has a method RealIP() *RealIP names the trusted
// proxies an HTTPFilter reads the client address behind (as *RuleSet and
// *Firewall do, from their rule file's "trust" statements).
type Filter interface {
	Decide(f Flow) Verdict
}

// Both Filters name their trusted proxies; the HTTP filter is a
// func(http.Handler) http.Handler middleware.
var (
	_ Filter                          = (*Firewall)(nil)
	_ Filter                          = (*RuleSet)(nil)
	_ interface{ RealIP() *RealIP }   = (*Firewall)(nil)
	_ interface{ RealIP() *RealIP }   = (*RuleSet)(nil)
	_ func(http.Handler) http.Handler = (*HTTPFilter)(nil).Wrap
	_ error                           = (*ParseError)(nil)
	_ fmt.Stringer                    = Action(0)
)

// checkFilter refuses a nil *Firewall or *RuleSet passed as a Filter,
// which would fail on the first request instead of at construction.
func checkFilter(f Filter) error {
	switch f := f.(type) {
	case *Firewall:
		if f == nil {
			return fmt.Errorf("%w: nil *Firewall as Filter", ErrInvalidConfig)
		}
	case *RuleSet:
		if f == nil {
			return fmt.Errorf("%w: nil *RuleSet as Filter", ErrInvalidConfig)
		}
	}
	return nil
}

// Config configures a Firewall. New reads it once; changing it afterwards
// has no effect; a plain value, safe for concurrent use
// while no goroutine changes it.
type Config struct {
	// Rules is the initial rule set. Nil means allow everything.
	Rules *RuleSet
}

// Firewall holds the rule set in force and swaps it atomically: a reload
// never shows readers a half-loaded set, and Decide never blocks. It is
// safe for concurrent use by multiple goroutines and must not be copied.
type Firewall struct {
	rules   atomic.Pointer[RuleSet]
	allowed atomic.Uint64
	denied  atomic.Uint64
	reloads atomic.Uint64
}

// New returns a Firewall.
func New(cfg Config) (*Firewall, error) {
	f := &Firewall{}
	rs := cfg.Rules
	if rs == nil {
		var err error
		if rs, err = NewRuleSet(RuleSetConfig{Default: Allow}); err != nil {
			return nil, err
		}
	}
	f.rules.Store(rs)
	return f, nil
}

// Reload puts rs in force for every decision from now on. Connections
// already allowed stay up; Listener.Flush closes those the new rules deny.
// A nil rs is refused (ErrInvalidConfig) and the rules in force stay: a
// reload never opens the firewall by omission.
func (f *Firewall) Reload(rs *RuleSet) error {
	if rs == nil {
		return fmt.Errorf("%w: Reload of a nil rule set", ErrInvalidConfig)
	}
	f.rules.Store(rs)
	f.reloads.Add(1)
	return nil
}

// Rules returns the rule set in force.
func (f *Firewall) Rules() *RuleSet { return f.rules.Load() }

// RealIP returns the trusted proxies of the rule set in force (nil:
// none), so a Filter that wraps a Firewall can name them to an HTTPFilter
// by forwarding this method.
func (f *Firewall) RealIP() *RealIP { return f.rules.Load().RealIP() }

// Decide judges fl by the rule set in force and counts the verdict.
func (f *Firewall) Decide(fl Flow) Verdict { return f.decide(f.rules.Load(), fl) }

// decide judges fl by rs (the rule set in force, loaded once by a caller
// that reads more of it) and counts.
func (f *Firewall) decide(rs *RuleSet, fl Flow) Verdict {
	v := rs.Decide(fl)
	if v.Action == Allow {
		f.allowed.Add(1)
	} else {
		f.denied.Add(1)
	}
	return v
}

// Stats is a snapshot of a Firewall's counters, a plain value safe for
// concurrent use while no goroutine changes it.
type Stats struct {
	Allowed, Denied uint64
	Reloads         uint64
	// Rules are per-rule hit counts of the rule set in force.
	Rules []RuleCount
}

// Stats returns a snapshot.
func (f *Firewall) Stats() Stats {
	return Stats{Allowed: f.allowed.Load(), Denied: f.denied.Load(), Reloads: f.reloads.Load(), Rules: f.rules.Load().counts()}
}
