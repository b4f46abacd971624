package dnsproto

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// UDPSize is the UDP payload size a server here advertises in the OPT of
// its responses (RFC 6891 §6.2.5; 1232, the size of the 2020 DNS flag day
// and Unbound's default).
const UDPSize = 1232

// Reply starts the response to req (RFC 1035 §4.1.1): QR set, the ID and
// opcode copied, RD and CD copied for every opcode (dns.Msg.SetReply
// copies them only for QUERY; Unbound copies them always), and the
// question section as it was read (a query that did not parse has none,
// or the questions read before the error). AD is never set: nothing here
// validates DNSSEC. The caller sets the rcode, AA and RA, and adds the
// OPT with SetEDNS.
func Reply(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	if len(req.Question) == 1 {
		m.Question = []dns.Question{req.Question[0]}
	} else if len(req.Question) > 1 {
		m.Question = slices.Clone(req.Question)
	}
	return m
}

// SetEDNS adds the responder's OPT record to m when req carried one, as
// RFC 6891 §7 requires of every response, error responses included: our
// UDP payload size, version 0, and the DO bit copied from the query (RFC
// 3225 §3). It returns the size of the largest UDP response the client
// takes: its advertised payload size, never below 512 bytes (RFC 6891
// §6.2.5), or 512 without EDNS (RFC 1035 §4.2.1).
func SetEDNS(m, req *dns.Msg) (clientSize int) {
	opt := req.IsEdns0()
	if opt == nil {
		return dns.MinMsgSize
	}
	m.SetEdns0(UDPSize, opt.Do())
	return max(int(opt.UDPSize()), dns.MinMsgSize)
}

// Truncate fits the response m into size bytes (at least 512) for UDP and
// turns on name compression. A message that fits is left whole. Otherwise:
//   - if the answer and authority sections fit, additional records are
//     dropped, whole RRsets at a time from the end, and TC is not set (RFC
//     2181 §9: TC is not set merely because additional data did not fit);
//   - if they do not, TC is set and the answer, authority and additional
//     sections are emptied, keeping the question and the OPT, so that no
//     partial RRset is ever sent (RFC 2181 §9) and the client retries over
//     TCP (RFC 1035 §4.2.1): as Unbound answers.
//
// The OPT record is always kept.
func Truncate(m *dns.Msg, size int) {
	size = max(size, dns.MinMsgSize)
	// The uncompressed length first: cheap, and enough for most answers.
	m.Compress = false
	if m.Len() <= size {
		m.Compress = true
		return
	}
	m.Compress = true
	if m.Len() <= size {
		return
	}
	var opt dns.RR
	extra := make([]dns.RR, 0, len(m.Extra))
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opt = rr
		} else {
			extra = append(extra, rr)
		}
	}
	m.Extra = withOPT(nil, opt)
	if m.Len() > size {
		m.Truncated = true
		m.Answer, m.Ns = nil, nil
		if m.Len() > size {
			m.Question = nil // only an echo of many questions comes here
		}
		return
	}
	// Add back whole RRsets of additional data while they fit.
	var kept []dns.RR
	for _, set := range rrsets(extra) {
		m.Extra = withOPT(append(kept[:len(kept):len(kept)], set...), opt)
		if m.Len() > size {
			m.Extra = withOPT(kept, opt)
			return
		}
		kept = append(kept, set...)
	}
}

// withOPT returns rrs with opt, if not nil, appended (the OPT goes last).
func withOPT(rrs []dns.RR, opt dns.RR) []dns.RR {
	if opt == nil {
		return rrs
	}
	return append(rrs[:len(rrs):len(rrs)], opt)
}

// rrsets groups rrs into RRsets (same owner, type and class, RFC 2181
// §5), in the order each first appears, even when a peer did not write
// an RRset's records together.
func rrsets(rrs []dns.RR) [][]dns.RR {
	type key struct {
		name          string
		rrtype, class uint16
	}
	var sets [][]dns.RR
	index := make(map[key]int, len(rrs))
	for _, rr := range rrs {
		h := rr.Header()
		k := key{strings.ToLower(h.Name), h.Rrtype, h.Class}
		i, ok := index[k]
		if !ok {
			i = len(sets)
			index[k] = i
			sets = append(sets, nil)
		}
		sets[i] = append(sets[i], rr)
	}
	return sets
}
