package resolver

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// holdDown is a server that stopped answering: no query goes to it until
// until; backoff doubles with each failed retry after that (RFC 9520 §3.3).
type holdDown struct {
	fails   int
	until   time.Time
	backoff time.Duration
}

const (
	holdDownAfter = 4           // consecutive failures before a server is held down (a lost datagram or two under load is no outage)
	holdDownMin   = time.Second // the first hold-down
	holdDownMax   = time.Minute // the longest (RFC 9520 allows up to 5 min; a minute limits the outage after the servers return)
)

// noEDNSTTL is how long a server is remembered as not speaking EDNS (as
// Unbound's infrastructure cache keeps a host's EDNS status, infra-host-ttl
// 900 s); then it is asked with EDNS again.
const noEDNSTTL = 15 * time.Minute

// noEDNS remembers that server does not speak EDNS.
func (r *Recursive) noEDNS(server netip.AddrPort) {
	r.rttMu.Lock()
	defer r.rttMu.Unlock()
	if r.plain == nil || len(r.plain) > 100_000 {
		r.plain = map[netip.AddrPort]time.Time{}
	}
	r.plain[server] = r.now().Add(noEDNSTTL)
}

// knownNoEDNS reports whether server is remembered as not speaking EDNS.
func (r *Recursive) knownNoEDNS(server netip.AddrPort) bool {
	r.rttMu.Lock()
	defer r.rttMu.Unlock()
	until, ok := r.plain[server]
	return ok && r.now().Before(until)
}

func (r *Recursive) bySRTT(servers []netip.AddrPort) []netip.AddrPort {
	type ranked struct {
		s   netip.AddrPort
		rtt time.Duration
	}
	now := r.now()
	out := make([]ranked, 0, len(servers))
	r.rttMu.Lock()
	for _, s := range servers {
		// Held-down servers wait; an expired hold is one retry. Unknown
		// servers (RTT 0) are tried first.
		if h, ok := r.down[s]; !ok || !now.Before(h.until) {
			out = append(out, ranked{s, r.srtt[s]})
		}
	}
	r.rttMu.Unlock()
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] }) // ties in random order
	slices.SortStableFunc(out, func(a, b ranked) int { return cmp.Compare(a.rtt, b.rtt) })
	sorted := make([]netip.AddrPort, len(out))
	for i, x := range out {
		sorted[i] = x.s
	}
	return sorted
}

// observe updates a server's smoothed RTT; a timeout counts as a long RTT
// so the server is tried last for a while (as Unbound's infra cache does).
func (r *Recursive) observe(s netip.AddrPort, rtt time.Duration, timeout bool) {
	r.rttMu.Lock()
	defer r.rttMu.Unlock()
	if len(r.srtt) > 100_000 {
		r.srtt = map[netip.AddrPort]time.Duration{}
	}
	if timeout {
		if r.down == nil || len(r.down) > 100_000 {
			r.down = map[netip.AddrPort]holdDown{}
		}
		h := r.down[s]
		if h.fails++; h.fails >= holdDownAfter {
			h.backoff = min(max(2*h.backoff, holdDownMin), holdDownMax)
			h.until = r.now().Add(h.backoff)
		}
		r.down[s] = h
	} else if r.down != nil {
		delete(r.down, s)
	}
	old := r.srtt[s]
	switch {
	case timeout:
		r.srtt[s] = max(old*2, r.cfg.Timeout)
	case old == 0:
		r.srtt[s] = rtt
	default:
		r.srtt[s] = (old*7 + rtt*3) / 10
	}
}
