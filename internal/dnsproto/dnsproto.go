// Package dnsproto holds the DNS protocol rules that the recursive
// resolver (resolver) and the authoritative server (resolver/authority)
// both apply, written once: the name hierarchy (RFC 1034 §3.1), the SOA of
// a negative answer (RFC 2308 §3), the vetting of a query before it is
// answered, and the shape of every response: header, question and OPT
// (Reply, SetEDNS; RFC 6891 §7) and UDP truncation without partial RRsets
// (Truncate; RFC 2181 §9).
package dnsproto

import (
	"strings"

	"github.com/miekg/dns"
)

// IsSubName reports whether child is parent or a name below it, both
// canonical (lower case, fully qualified), without allocating as
// dns.IsSubDomain does. An escaped dot (\.) inside a label is no label
// boundary.
func IsSubName(parent, child string) bool {
	if parent == "." || child == parent {
		return true
	}
	if len(child) <= len(parent) || !strings.HasSuffix(child, parent) {
		return false
	}
	i := len(child) - len(parent) - 1 // where the separating dot must be
	if child[i] != '.' {
		return false
	}
	escapes := 0
	for j := i - 1; j >= 0 && child[j] == '\\'; j-- {
		escapes++
	}
	return escapes%2 == 0
}

// Parent returns the name one label up ("." for a TLD).
func Parent(name string) string {
	if name == "." {
		return "."
	}
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}

// NegativeSOA returns the SOA for a negative answer, its TTL the
// minimum of the SOA's TTL and MINIMUM field (RFC 2308 §3).
func NegativeSOA(soa *dns.SOA) dns.RR {
	c := dns.Copy(soa).(*dns.SOA)
	if c.Minttl < c.Hdr.Ttl {
		c.Hdr.Ttl = c.Minttl
	}
	return c
}

// VetQuery makes the checks that both servers (the resolver's Server and
// the authoritative server) make before answering req, and returns the
// RCODE to answer with instead, or RcodeSuccess:
//   - an opcode other than QUERY: NOTIMP (RFC 1035 §4.1.1);
//   - not a query (QR set), TC set, not exactly one question, any answer
//     or authority record, or more than one additional record (the OPT):
//     FORMERR, as Unbound answers (RFC 1035 §4.1.1; RFC 6891 §6.1.1 for a
//     second OPT; no TSIG or SIG(0) is supported);
//   - an EDNS version above 0: BADVERS (RFC 6891 §6.1.3);
//   - a question for a meta-type that only an OPT or a transaction carries
//     (OPT, TSIG, TKEY, MAILA, MAILB, and the unassigned meta range 128-248
//     of RFC 6895 §3.1): FORMERR, as Unbound answers;
//   - a zone transfer (AXFR, IXFR; none is offered) or a class other than
//     IN (the only class resolved or served): REFUSED.
func VetQuery(req *dns.Msg) int {
	if req.Opcode != dns.OpcodeQuery && !req.Response {
		return dns.RcodeNotImplemented
	}
	if len(req.Question) != 1 || req.Response || req.Truncated || len(req.Answer) > 0 || len(req.Ns) > 0 || len(req.Extra) > 1 {
		return dns.RcodeFormatError
	}
	opts := 0
	for _, rr := range req.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opts > 1 {
		return dns.RcodeFormatError
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		return dns.RcodeBadVers
	}
	q := req.Question[0]
	switch t := q.Qtype; {
	case t == dns.TypeOPT || t == dns.TypeTSIG || t == dns.TypeTKEY || t == dns.TypeMAILA || t == dns.TypeMAILB || t >= 128 && t <= 248:
		return dns.RcodeFormatError
	case t == dns.TypeAXFR || t == dns.TypeIXFR:
		return dns.RcodeRefused
	}
	if q.Qclass != dns.ClassINET {
		return dns.RcodeRefused
	}
	return dns.RcodeSuccess
}
