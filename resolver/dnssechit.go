package resolver

import (
	"time"

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
