package resolver

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// local answers special-use names (RFC 6761) and the hosts table.
func (r *Recursive) local(q dns.Question) *dns.Msg {
	reply := func(rcode int, rrs ...dns.RR) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(q.Name, q.Qtype)
		m.Response, m.RecursionAvailable, m.Rcode, m.Answer = true, true, rcode, rrs
		return m
	}
	if addrs, ok := r.hosts[q.Name]; ok {
		return reply(dns.RcodeSuccess, addrRRs(q, addrs, 300)...)
	}
	if r.cfg.DisableSpecialUse {
		return nil
	}
	// The special-use names are answered as locally served zones (RFC
	// 6303 §2.2): authoritatively, and a negative answer carries the
	// zone's SOA so that it can be cached (RFC 2308 §3).
	negative := func(zone string, rcode int) *dns.Msg {
		m := reply(rcode)
		m.Authoritative = true
		m.Ns = []dns.RR{localSOA(zone)}
		return m
	}
	for _, zone := range [...]string{"localhost.", "invalid.", "test."} {
		if q.Name != zone && !strings.HasSuffix(q.Name, "."+zone) {
			continue
		}
		if zone != "localhost." {
			return negative(zone, dns.RcodeNameError)
		}
		rrs := addrRRs(q, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}, 86400)
		if len(rrs) == 0 {
			return negative(zone, dns.RcodeSuccess) // NODATA
		}
		m := reply(dns.RcodeSuccess, rrs...)
		m.Authoritative = true
		return m
	}
	return nil
}

// localSOA is the SOA of a locally served zone, in the form RFC 6303 §3
// gives (negative answers cached for 3 hours).
func localSOA(zone string) *dns.SOA {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 10800},
		Ns:  zone, Mbox: "nobody.invalid.", Serial: 1,
		Refresh: 3600, Retry: 1200, Expire: 604800, Minttl: 10800,
	}
}

func addrRRs(q dns.Question, addrs []netip.Addr, ttl uint32) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: ttl}
		switch {
		case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			hdr.Rrtype = dns.TypeA
			out = append(out, &dns.A{Hdr: hdr, A: a.AsSlice()})
		case a.Is6() && !a.Is4In6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			hdr.Rrtype = dns.TypeAAAA
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	return out
}
