package resolver

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// TestRFC4035_3_2_1_ValidatedHitSharedAnswerDifferential: the cache hit
// path of a validating Server, whose answer section with its RRSIGs is
// shared by the hits of a second (joinAnswer), replies exactly as the
// same reply built record by record without sharing (addDNSSECRecords'
// append), after packing and unpacking: over several cached names
// (RRsets of 1 to 40 records, so small UDP sizes truncate with TC, RFC
// 6891 §7 and RFC 1035 §4.2.1), with and without DO, AD and CD, the
// query name's case changed (0x20), EDNS sizes from none to 4096, at
// many moments of the records' 300 s TTL (RFC 1035 §3.2.1: TTLs count
// down), each asked twice in a second and interleaved with other names.
func TestRFC4035_3_2_1_ValidatedHitSharedAnswerDifferential(t *testing.T) {
	var text strings.Builder
	text.WriteString("$TTL 300\n@ IN SOA ns h 1 7200 3600 1209600 300\n@ IN NS ns\nns IN A 127.0.0.4\n")
	names := []string{"one", "two", "big", "alias"}
	text.WriteString("one IN A 192.0.2.1\ntwo IN A 192.0.2.2\ntwo IN A 192.0.2.3\nalias IN CNAME one\n")
	for i := range 40 {
		fmt.Fprintf(&text, "big IN TXT \"record %d of a set too big for 512 octets\"\n", i)
	}
	start := time.Now()
	clk := clock.NewFake(start)
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: []resolvertest.SignedZoneFile{{
		ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "example.com.", Text: text.String()},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	// During the warm-up every reading of the clock moves it on, so the
	// cached answers and their DNSSEC entries are stored at different
	// fractions of a second and cross their seconds of age apart.
	var warming atomic.Bool
	warming.Store(true)
	now := func() time.Time {
		if warming.Load() {
			return clk.Advance(37 * time.Millisecond)
		}
		return clk.Now()
	}
	r, err := New(Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, TrustAnchors: anchors, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv, err := NewServer(ServerConfig{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	qtype := func(n string) uint16 {
		if n == "big" {
			return dns.TypeTXT
		}
		return dns.TypeA
	}
	remote, local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	for _, n := range names { // warm the cache, validated
		q := new(dns.Msg)
		q.SetQuestion(n+".example.com.", qtype(n))
		q.SetEdns0(4096, true)
		if m := srv.answer(remote, &net.TCPAddr{}, q); m.Rcode != dns.RcodeSuccess || n != "alias" && !m.AuthenticatedData {
			t.Fatalf("warm-up %s:\n%v", n, m)
		}
	}
	warming.Store(false)
	if d := clk.Now().Sub(start); d > 30*time.Second {
		t.Fatalf("warm-up moved the clock %v", d)
	}
	start = clk.Now()
	// reference is the reply to req as the hit path builds it, with the
	// DNSSEC records appended without sharing.
	reference := func(req *dns.Msg) *dns.Msg {
		m := dnsproto.Reply(req)
		m.RecursionAvailable = true
		if !r.cachedInto(m, req.Question[0], nil) {
			t.Fatalf("%s not cached", req.Question[0].Name)
		}
		m.Answer = spellAsAsked(m.Answer, req.Question[0].Name)
		r.addDNSSECRecordsTo(m, req, false)
		return srv.finish(m, req, remote, local)
	}
	wire := func(m *dns.Msg) *dns.Msg {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		out := new(dns.Msg)
		if err := out.Unpack(b); err != nil {
			t.Fatal(err)
		}
		return out
	}
	checked, truncated, signed := 0, 0, 0
	for _, age := range []time.Duration{0, 100 * time.Millisecond, 400 * time.Millisecond, 700 * time.Millisecond, time.Second, 1300 * time.Millisecond, 1500 * time.Millisecond, 1900 * time.Millisecond, 7 * time.Second, 59 * time.Second, 150 * time.Second, 250 * time.Second, 250*time.Second + 900*time.Millisecond} {
		clk.Set(start.Add(age))
		for round := range 2 {
			for _, n := range names {
				for _, size := range []uint16{0, 512, 700, 1232, 4096} {
					for _, flags := range []struct{ do, ad, cd, upper bool }{{}, {do: true}, {ad: true}, {do: true, cd: true}, {do: true, upper: true}, {ad: true, upper: true}} {
						name := n + ".example.com."
						if flags.upper {
							name = strings.ToUpper(n[:1]) + n[1:] + ".ExAmple.COM."
						}
						req := new(dns.Msg)
						req.SetQuestion(name, qtype(n))
						req.Id = uint16(checked)
						req.AuthenticatedData, req.CheckingDisabled = flags.ad, flags.cd
						if size > 0 || flags.do {
							req.SetEdns0(max(size, 512), flags.do)
						}
						got := wire(srv.answer(remote, local, req))
						want := wire(reference(req))
						if got.String() != want.String() {
							t.Fatalf("age %v round %d %s size %d %+v: hit path\n%v\nwant\n%v", age, round, name, size, flags, got, want)
						}
						if got.Truncated {
							truncated++
						}
						if count(got.Answer, dns.TypeRRSIG) > 0 {
							signed++
						}
						for _, rr := range got.Answer {
							if rr.Header().Ttl > 300-uint32(age/time.Second) {
								t.Fatalf("age %v: TTL %d not counted down:\n%v", age, rr.Header().Ttl, got)
							}
						}
						checked++
					}
				}
			}
		}
	}
	if truncated == 0 || signed == 0 {
		t.Fatalf("%d replies, %d truncated, %d with RRSIGs: the cases do not cover the paths", checked, truncated, signed)
	}
}
