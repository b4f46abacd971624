package resolver

import (
	"time"

	"github.com/edgekit/edgekit/internal/store"

	"github.com/miekg/dns"
)

// joinedSet is a cache hit's answer section (the records of a cached
// answer as aged for one second, shared by that second's hits) with the
// answer-section DNSSEC records of a question's DNSSEC entry appended, as
// aged for one second of that entry's age. The validated hits of one
// second share it instead of each appending into a new slice; like the
// aged sets it is built from, it must not be changed (len == cap, so an
// append copies).
type joinedSet struct {
	sec  int64   // the DNSSEC entry's age in seconds when it was built
	base *dns.RR // &answer[0]: the aged set the answer section is
	n    int     // len(answer)
	rrs  []dns.RR
}

// joinAnswer returns answer followed by extra, the records e (a DNSSEC
// entry) gives the answer section in the second sec of its age. answer is
// an aged set shared by the hits of a second (len == cap, never
// changed): the result is kept with e and given again to the hits of the
// same second whose answer is the same set, so a validated hit with DO
// costs no allocation for its answer section.
func (e *entry) joinAnswer(answer, extra []dns.RR, sec int64) []dns.RR {
	if len(answer) == 0 || len(answer) != cap(answer) {
		return append(answer[:len(answer):len(answer)], extra...)
	}
	if j := e.joined.Load(); j != nil && j.sec == sec && j.base == &answer[0] && j.n == len(answer) {
		return j.rrs
	}
	rrs := make([]dns.RR, 0, len(answer)+len(extra))
	rrs = append(append(rrs, answer...), extra...)
	e.joined.Store(&joinedSet{sec: sec, base: &answer[0], n: len(answer), rrs: rrs})
	return rrs
}

// ageSec is e's age at now in whole seconds, the index of its aged sets.
func (e *entry) ageSec(now time.Time) int64 { return int64(now.Sub(e.stored) / time.Second) }

// peekDNSSEC returns the fresh DNSSEC entry of name/qtype (any case), and
// its age in seconds, without counting a lookup or touching its recency:
// for a packed hit reply (wirehit.go) to note what it is made of.
func (r *Recursive) peekDNSSEC(name string, qtype uint16) (*entry, int64) {
	now := r.now()
	b := r.getKeyBuf()
	e, ok := r.cache.Peek(lookupKey(b, lower(name), qtype, "/dnssec"))
	r.putKeyBuf(b)
	if !ok || !e.fresh(now) {
		return nil, 0
	}
	return e, e.ageSec(now)
}

// evicted is the answer cache's OnEvict: an entry that leaves the cache,
// replaced, evicted or expired, is marked gone, so that a packed reply
// made from it is no longer served (wirehit.go); then onEvict.
func (r *Recursive) evicted(ev store.Eviction[string, *entry]) {
	if ev.Value != nil {
		ev.Value.gone.Store(true)
	}
	r.onEvict(ev)
}

// dnssecCovers reports whether d, the DNSSEC entry of a question in the
// second sec of its age, stays fresh and in that second for as long as
// a, the aged set of the question's answer entry e for one second of its
// age, is answered (aged gives no hit that set after its second).
// Entries of a resolution are stored together, the DNSSEC entry last,
// so a set built after the DNSSEC entry's second turned is covered to
// its end.
func dnssecCovers(e *entry, a *agedSet, d *entry, sec int64) bool {
	end := e.stored.Add(time.Duration(a.sec+1) * time.Second)
	until := d.stored.Add(min(time.Duration(sec+1)*time.Second, d.ttl))
	return !until.Before(end)
}
