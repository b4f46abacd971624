package dnsproto

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// RFC 1035 §4.1.1: Reply copies ID, opcode, RD and CD for every opcode
// (dns.Msg.SetReply only for QUERY) and never sets AD.
func TestRFC1035_4_1_1_ReplyCopiesHeader(t *testing.T) {
	for _, op := range []int{dns.OpcodeQuery, dns.OpcodeStatus, dns.OpcodeNotify, dns.OpcodeUpdate} {
		q := new(dns.Msg)
		q.SetQuestion("a.example.", dns.TypeA)
		q.Opcode, q.CheckingDisabled, q.AuthenticatedData = op, true, true
		m := Reply(q)
		if m.Id != q.Id || !m.Response || m.Opcode != op || !m.RecursionDesired || !m.CheckingDisabled || m.AuthenticatedData || len(m.Question) != 1 {
			t.Errorf("opcode %d: %v", op, m)
		}
	}
}

// RFC 6891 §7 and RFC 3225 §3: an OPT of ours, with the query's DO bit,
// only when the query had one; the client's size, at least 512.
func TestRFC6891_7_SetEDNS(t *testing.T) {
	for _, c := range []struct {
		edns     bool
		size     uint16
		do       bool
		wantSize int
	}{{false, 0, false, 512}, {true, 100, false, 512}, {true, 4096, true, 4096}, {true, 1232, false, 1232}} {
		q := new(dns.Msg)
		q.SetQuestion("a.example.", dns.TypeA)
		if c.edns {
			q.SetEdns0(c.size, c.do)
		}
		m := Reply(q)
		size := SetEDNS(m, q)
		opt := m.IsEdns0()
		if size != c.wantSize || (opt != nil) != c.edns || opt != nil && (opt.Do() != c.do || opt.UDPSize() != UDPSize || opt.Version() != 0) {
			t.Errorf("%+v: size %d, OPT %v", c, size, opt)
		}
	}
}

func rrs(t testing.TB, lines ...string) []dns.RR {
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rr)
	}
	return out
}

// RFC 2181 §9: Truncate never leaves part of an RRset: a message that
// does not fit goes with TC and only its question and OPT, also when only
// additional data (a referral's glue) does not fit (RFC 9471 §3.1).
func TestRFC2181_9_Truncate(t *testing.T) {
	var txt, glue []string
	for i := range 20 {
		txt = append(txt, fmt.Sprintf(`big.example. 60 IN TXT "record %02d padding padding padding padding"`, i))
		glue = append(glue, fmt.Sprintf("ns%02d.example. 60 IN A 192.0.2.%d", i, i), fmt.Sprintf("ns%02d.example. 60 IN AAAA 2001:db8::%d", i, i))
	}
	for _, c := range []struct {
		name            string
		answer, ns, add []string
		tc              bool
		answers, nss    int
		minAdd, maxAdd  int
	}{
		{"fits", txt[:2], nil, glue[:2], false, 2, 0, 2, 2},
		{"answer too big", txt, nil, glue[:2], true, 0, 0, 0, 0},
		{"authority too big", nil, txt, nil, true, 0, 0, 0, 0},
		{"RFC9471_3_1/glue too big", txt[:3], nil, glue, true, 0, 0, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion("big.example.", dns.TypeTXT)
			m.Response = true
			m.Answer, m.Ns, m.Extra = rrs(t, c.answer...), rrs(t, c.ns...), rrs(t, c.add...)
			m.SetEdns0(UDPSize, true)
			Truncate(m, 512)
			b, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			opt := m.IsEdns0()
			add := len(m.Extra) - 1
			if len(b) > 512 || m.Truncated != c.tc || len(m.Answer) != c.answers || len(m.Ns) != c.nss || add < c.minAdd || add > c.maxAdd || opt == nil || !opt.Do() || len(m.Question) != 1 {
				t.Errorf("%d bytes, TC %v, %d/%d/%d, OPT %v: %v", len(b), m.Truncated, len(m.Answer), len(m.Ns), add, opt, m)
			}
			if m.Extra[len(m.Extra)-1] != dns.RR(opt) {
				t.Errorf("OPT not last: %v", m.Extra)
			}
			checkWholeRRsets(t, c.add, m.Extra)
		})
	}
}

// checkWholeRRsets fails if an RRset of got has fewer records than in in.
func checkWholeRRsets(t *testing.T, in []string, got []dns.RR) {
	t.Helper()
	count := func(rrs []dns.RR) map[string]int {
		n := map[string]int{}
		for _, rr := range rrs {
			h := rr.Header()
			if h.Rrtype != dns.TypeOPT {
				n[fmt.Sprintf("%s/%d/%d", strings.ToLower(h.Name), h.Rrtype, h.Class)]++
			}
		}
		return n
	}
	want := count(rrs(t, in...))
	for k, n := range count(got) {
		if n != want[k] {
			t.Errorf("RRset %s: %d of %d records", k, n, want[k])
		}
	}
}

// FuzzTruncate truncates arbitrary messages to arbitrary sizes: never a
// panic, the result packs within the size (at least 512) when the
// question does, TC leaves no answer or authority records, and every RRset
// left is whole (RFC 2181 §9).
func FuzzTruncate(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion("big.example.", dns.TypeTXT)
	for i := range 20 {
		rr, _ := dns.NewRR(fmt.Sprintf(`big.example. 60 IN TXT "record %02d padding padding padding padding"`, i))
		m.Answer = append(m.Answer, rr)
		rr, _ = dns.NewRR(fmt.Sprintf("ns%02d.example. 60 IN A 192.0.2.%d", i, i))
		m.Extra = append(m.Extra, rr)
	}
	m.SetEdns0(1232, true)
	b, _ := m.Pack()
	f.Add(b, uint16(512))
	f.Add(b, uint16(1232))
	m.Answer, m.Ns = nil, m.Answer
	b, _ = m.Pack()
	f.Add(b, uint16(700))
	f.Fuzz(func(t *testing.T, data []byte, size uint16) {
		m := new(dns.Msg)
		if m.Unpack(data) != nil {
			return
		}
		before := map[string]int{}
		count := func(n map[string]int, rrs ...[]dns.RR) {
			for _, s := range rrs {
				for _, rr := range s {
					h := rr.Header()
					n[fmt.Sprintf("%s/%d/%d", strings.ToLower(h.Name), h.Rrtype, h.Class)]++
				}
			}
		}
		count(before, m.Answer, m.Ns, m.Extra)
		q := &dns.Msg{Question: m.Question}
		q.SetEdns0(1232, false)
		questionLen := q.Len()
		Truncate(m, int(size))
		out, err := m.Pack()
		if err != nil {
			return // a message miekg/dns reads but cannot write
		}
		if limit := max(int(size), 512); len(out) > limit && questionLen <= limit {
			t.Fatalf("%d bytes for a limit of %d", len(out), limit)
		}
		if m.Truncated && len(data) > 2 && data[2]&2 == 0 && (len(m.Answer) > 0 || len(m.Ns) > 0) {
			t.Fatalf("TC with %d answer and %d authority records", len(m.Answer), len(m.Ns))
		}
		after := map[string]int{}
		count(after, m.Answer, m.Ns, m.Extra)
		for k, n := range after {
			if n != before[k] && !strings.Contains(k, fmt.Sprintf("/%d/", dns.TypeOPT)) {
				t.Fatalf("RRset %s: %d of %d records", k, n, before[k])
			}
		}
	})
}
