package firewall

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/edgekit/edgekit/internal/percpu"
	"github.com/gaissmai/bart"
)

// Action is a verdict. A plain value, safe for concurrent use.
type Action uint8

const (
	// Deny refuses the flow.
	Deny Action = iota
	// Allow accepts the flow.
	Allow
)

// String returns "allow" or "deny".
func (a Action) String() string {
	if a == Allow {
		return "allow"
	}
	return "deny"
}

// Proto is a transport protocol a rule matches. A plain value, safe for
// concurrent use.
type Proto uint8

const (
	AnyProto Proto = iota
	TCP
	UDP
)

// Order chooses how ordered rules combine. A plain value, safe for
// concurrent use.
type Order uint8

const (
	// FirstMatch: the first matching rule decides (iptables, pf "quick").
	FirstMatch Order = iota
	// LastMatch: the last matching rule decides (pf without "quick").
	LastMatch
)

// PortRange is an inclusive port range; {0, 0} matches any port. A plain
// value, safe for concurrent use while no goroutine changes it.
type PortRange struct{ From, To uint16 }

// Rule is one ordered rule: a verdict for flows whose source and
// destination fall in the given prefixes (empty: any), to the given ports
// (empty: any) over the given protocol. NewRuleSet copies what it keeps,
// so a Rule is safe for concurrent use while no goroutine changes it.
type Rule struct {
	Name   string
	Action Action
	Proto  Proto
	Src    []netip.Prefix
	Dst    []netip.Prefix
	Ports  []PortRange
}

// Flow describes a connection or datagram to judge. A plain value, safe
// for concurrent use while no goroutine changes it.
type Flow struct {
	Src, Dst netip.AddrPort
	Proto    Proto
}

// RuleSet is an immutable, compiled set of rules: ordered rules first (in
// Order), then longest-prefix-match lists on the source address, then the
// default policy. Build one with NewRuleSet or ParseRules. A RuleSet is
// safe for concurrent use by multiple goroutines: its rules never change,
// and its hit counters are atomic (striped per processor).
type RuleSet struct {
	order    Order
	def      Action
	rules    []compiledRule
	lpm      bart.Table[Action] // source prefix -> verdict
	lists    []listEntry
	realIP   *RealIP
	counters *percpu.Counters // per rule, then allow list, deny list, default; striped per P
}

type compiledRule struct {
	Rule
	src, dst *bart.Table[struct{}]
}

type listEntry struct {
	prefix netip.Prefix
	action Action
}

// RuleSetConfig describes a rule set. NewRuleSet reads it once and copies
// what it keeps; changing it afterwards has no effect; a plain value,
// safe for concurrent use while no goroutine changes it.
type RuleSetConfig struct {
	// Default is the verdict when nothing matches. The zero value is Deny.
	Default Action
	// Order of the ordered rules. Zero means FirstMatch.
	Order Order
	Rules []Rule
	// Allow and Deny are source-address lists decided by longest prefix
	// match, so an exception inside a range works ("deny 10.0.0.0/8,
	// allow 10.1.2.0/24"). A prefix in both lists is an error.
	Allow, Deny []netip.Prefix
	// Proxies are the trusted proxies in front of HTTP servers and the
	// header each maintains (see RealIP); an HTTP filter whose Filter is
	// this rule set, or a Firewall holding it, and whose HTTPConfig.RealIP
	// is nil reads the client address behind them. None means no proxy
	// is trusted.
	Proxies []TrustedProxy
}

// NewRuleSet compiles cfg.
func NewRuleSet(cfg RuleSetConfig) (*RuleSet, error) {
	rs := &RuleSet{order: cfg.Order, def: cfg.Default}
	ri, err := NewRealIP(cfg.Proxies)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRule, err)
	}
	rs.realIP = ri
	for i, r := range cfg.Rules {
		r.Src, r.Dst, r.Ports = slices.Clone(r.Src), slices.Clone(r.Dst), slices.Clone(r.Ports) // read by Decide: the caller's slices may change
		cr := compiledRule{Rule: r}
		var ok bool
		if cr.src, ok = prefixTable(r.Src); !ok {
			return nil, fmt.Errorf("%w: rule %d: invalid source prefix", ErrBadRule, i)
		}
		if cr.dst, ok = prefixTable(r.Dst); !ok {
			return nil, fmt.Errorf("%w: rule %d: invalid destination prefix", ErrBadRule, i)
		}
		for _, pr := range r.Ports {
			if pr.From > pr.To {
				return nil, fmt.Errorf("%w: rule %d: port range %d-%d", ErrBadRule, i, pr.From, pr.To)
			}
		}
		rs.rules = append(rs.rules, cr)
	}
	seen := map[netip.Prefix]Action{}
	add := func(list []netip.Prefix, a Action) error {
		for _, p := range list {
			if !p.IsValid() {
				return fmt.Errorf("%w: invalid prefix in %s list", ErrBadRule, a)
			}
			p = normPrefix(p)
			if prev, dup := seen[p]; dup && prev != a {
				return fmt.Errorf("%w: %s is both allowed and denied", ErrBadRule, p)
			}
			seen[p] = a
			rs.lpm.Insert(p, a)
			rs.lists = append(rs.lists, listEntry{p, a})
		}
		return nil
	}
	if err := add(cfg.Allow, Allow); err != nil {
		return nil, err
	}
	if err := add(cfg.Deny, Deny); err != nil {
		return nil, err
	}
	rs.counters = percpu.New(len(rs.rules) + 3)
	return rs, nil
}

// normPrefix unmaps IPv4-in-IPv6 prefixes and masks host bits.
// prefixTable returns a table of the normalized prefixes (nil for none);
// ok is false when one is invalid.
func prefixTable(ps []netip.Prefix) (t *bart.Table[struct{}], ok bool) {
	if len(ps) == 0 {
		return nil, true
	}
	t = &bart.Table[struct{}]{}
	for _, p := range ps {
		if !p.IsValid() {
			return nil, false
		}
		t.Insert(normPrefix(p), struct{}{})
	}
	return t, true
}

func normPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// normalize returns the canonical form of an address at an entry point:
// IPv4-mapped IPv6 is unmapped and a zone is dropped (zones name links,
// not hosts, and rules never match on them). ok is false for an invalid
// address, which callers must treat by the default policy.
func normalize(a netip.Addr) (netip.Addr, bool) {
	if !a.IsValid() {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// Verdict is a decision and what made it. The zero Verdict denies, by no
// rule. A plain value, safe for concurrent use while no goroutine changes
// it.
type Verdict struct {
	Action Action
	// Matched reports whether a rule or a list entry decided. False means
	// nothing matched and Action is the default policy, so a Filter that
	// consults another can tell "denied by a rule" from "nobody said".
	Matched bool
	// Rule names what decided: the rule's name (empty for an unnamed
	// rule), "allow list", "deny list", or "default" when nothing matched.
	Rule string
}

// Decide judges a flow: ordered rules, then the source lists, then the
// default policy. It never allocates and never blocks.
func (rs *RuleSet) Decide(f Flow) Verdict {
	src, ok := normalize(f.Src.Addr())
	if !ok {
		return rs.byDefault()
	}
	if len(rs.rules) == 0 {
		return rs.list(src) // the fast path for address-only rule sets
	}
	dst, dstOK := normalize(f.Dst.Addr())
	match := -1
	for i := range rs.rules {
		r := &rs.rules[i]
		if r.Proto != AnyProto && r.Proto != f.Proto {
			continue
		}
		if r.src != nil && !r.src.Contains(src) {
			continue
		}
		if r.dst != nil && (!dstOK || !r.dst.Contains(dst)) {
			continue
		}
		if len(r.Ports) > 0 && !inPorts(f.Dst.Port(), r.Ports) {
			continue
		}
		match = i
		if rs.order == FirstMatch {
			break
		}
	}
	if match >= 0 {
		rs.counters.Add(match, 1)
		return Verdict{Action: rs.rules[match].Action, Matched: true, Rule: rs.rules[match].Name}
	}
	return rs.list(src)
}

func (rs *RuleSet) list(src netip.Addr) Verdict {
	if a, ok := rs.lpm.Lookup(src); ok {
		if a == Allow {
			rs.counters.Add(len(rs.rules), 1)
			return Verdict{Action: Allow, Matched: true, Rule: "allow list"}
		}
		rs.counters.Add(len(rs.rules)+1, 1)
		return Verdict{Action: Deny, Matched: true, Rule: "deny list"}
	}
	return rs.byDefault()
}

func (rs *RuleSet) byDefault() Verdict {
	rs.counters.Add(rs.counters.Len()-1, 1)
	return Verdict{Action: rs.def, Rule: "default"}
}

func inPorts(p uint16, ranges []PortRange) bool {
	for _, r := range ranges {
		if r.From == 0 && r.To == 0 || p >= r.From && p <= r.To {
			return true
		}
	}
	return false
}

// RealIP returns the trusted proxies of the rule set (nil: none).
func (rs *RuleSet) RealIP() *RealIP {
	if rs == nil {
		return nil
	}
	return rs.realIP
}

// RuleCount is one rule's (or list entry's) hit counter, a plain value
// safe for concurrent use while no goroutine changes it.
type RuleCount struct {
	Rule string
	Hits uint64
}

// counts returns the hit counter of every ordered rule, then of the allow
// list, the deny list and the default policy.
func (rs *RuleSet) counts() []RuleCount {
	out := make([]RuleCount, 0, rs.counters.Len())
	for i := range rs.rules {
		name := rs.rules[i].Name
		if name == "" {
			name = "rule " + strconv.Itoa(i+1)
		}
		out = append(out, RuleCount{name, rs.counters.Load(i)})
	}
	out = append(out, RuleCount{"allow list", rs.counters.Load(len(rs.rules))}, RuleCount{"deny list", rs.counters.Load(len(rs.rules) + 1)})
	return append(out, RuleCount{"default " + rs.def.String(), rs.counters.Load(rs.counters.Len() - 1)})
}

// ParseRules reads the rule file format, one statement a line ("#" starts
// a comment):
//
//	policy allow|deny              default verdict (default: deny)
//	order first|last               ordered-rule semantics (default: first)
//	allow PREFIX [PREFIX...]       source list entries, longest prefix wins
//	deny PREFIX [PREFIX...]
//	rule NAME allow|deny [tcp|udp] [from PREFIX[,PREFIX]] [to PREFIX[,PREFIX]] [port P[-Q][,P]]
//	trust PREFIX[,PREFIX] header NAME
//	                               proxies whose header NAME (X-Forwarded-For,
//	                               Forwarded, ...) names the client (see RealIP)
//
// Any error names its line, and a file with an error is refused whole.
func ParseRules(r io.Reader) (*RuleSet, error) {
	var cfg RuleSetConfig
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		bad := func(format string, a ...any) error {
			return &ParseError{Line: line, Msg: fmt.Sprintf(format, a...)}
		}
		switch f[0] {
		case "policy":
			if len(f) != 2 || (f[1] != "allow" && f[1] != "deny") {
				return nil, bad("want: policy allow|deny")
			}
			cfg.Default = actionOf(f[1])
		case "order":
			if len(f) != 2 || (f[1] != "first" && f[1] != "last") {
				return nil, bad("want: order first|last")
			}
			if f[1] == "last" {
				cfg.Order = LastMatch
			}
		case "allow", "deny":
			if len(f) < 2 {
				return nil, bad("want: %s PREFIX [PREFIX...]", f[0])
			}
			for _, s := range f[1:] {
				p, err := parsePrefix(s)
				if err != nil {
					return nil, bad("%v", err)
				}
				if f[0] == "allow" {
					cfg.Allow = append(cfg.Allow, p)
				} else {
					cfg.Deny = append(cfg.Deny, p)
				}
			}
		case "rule":
			if len(f) < 3 || (f[2] != "allow" && f[2] != "deny") {
				return nil, bad("want: rule NAME allow|deny [tcp|udp] [from ...] [to ...] [port ...]")
			}
			rule := Rule{Name: f[1], Action: actionOf(f[2])}
			for i := 3; i < len(f); i++ {
				switch f[i] {
				case "tcp":
					rule.Proto = TCP
				case "udp":
					rule.Proto = UDP
				case "from", "to", "port":
					if i+1 >= len(f) {
						return nil, bad("%s needs a value", f[i])
					}
					for _, v := range strings.Split(f[i+1], ",") {
						if f[i] == "port" {
							pr, err := parsePorts(v)
							if err != nil {
								return nil, bad("%v", err)
							}
							rule.Ports = append(rule.Ports, pr)
							continue
						}
						p, err := parsePrefix(v)
						if err != nil {
							return nil, bad("%v", err)
						}
						if f[i] == "from" {
							rule.Src = append(rule.Src, p)
						} else {
							rule.Dst = append(rule.Dst, p)
						}
					}
					i++
				default:
					return nil, bad("unknown word %q", f[i])
				}
			}
			cfg.Rules = append(cfg.Rules, rule)
		case "trust":
			if len(f) != 4 || f[2] != "header" {
				return nil, bad("want: trust PREFIX[,PREFIX...] header NAME (X-Forwarded-For, Forwarded, ...)")
			}
			ps, err := ParseTrustedProxy(f[1] + "=" + f[3])
			if err == nil {
				_, err = NewRealIP(append(cfg.Proxies[:len(cfg.Proxies):len(cfg.Proxies)], ps...))
			}
			if err != nil {
				return nil, bad("%s", strings.TrimPrefix(err.Error(), "firewall: "))
			}
			cfg.Proxies = append(cfg.Proxies, ps...)
		default:
			return nil, bad("unknown statement %q", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{Line: line + 1, Msg: err.Error()}
	}
	rs, err := NewRuleSet(cfg)
	if err != nil {
		return nil, err
	}
	return rs, nil
}

func actionOf(s string) Action {
	if s == "allow" {
		return Allow
	}
	return Deny
}

// parsePrefix accepts a prefix or a bare address (a host route).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad prefix %q", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func parsePorts(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.ParseUint(hi, 10, 16)
	}
	if err1 != nil || err2 != nil || a == 0 || b < a {
		return PortRange{}, fmt.Errorf("bad port %q", s)
	}
	return PortRange{uint16(a), uint16(b)}, nil
}
