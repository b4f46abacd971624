package firewall

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gaissmai/bart"
)

// genTable makes n distinct prefixes shaped like a routing table: mostly
// IPv4 /16-/24, some IPv6 /32-/48.
func genTable(n int) []netip.Prefix {
	r := rand.New(rand.NewPCG(42, 7))
	seen := make(map[netip.Prefix]struct{}, n)
	out := make([]netip.Prefix, 0, n)
	for len(out) < n {
		var p netip.Prefix
		if r.IntN(5) == 0 {
			var b [16]byte
			b[0], b[1] = 0x20, byte(r.IntN(16))
			for i := 2; i < 6; i++ {
				b[i] = byte(r.IntN(256))
			}
			p = netip.PrefixFrom(netip.AddrFrom16(b), 32+r.IntN(17)).Masked()
		} else {
			b := [4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), 0}
			p = netip.PrefixFrom(netip.AddrFrom4(b), 16+r.IntN(9)).Masked()
		}
		if _, dup := seen[p]; dup {
			continue
		}
		seen[p] = struct{}{}
		out = append(out, p)
	}
	return out
}

// bgpTable loads the real routing-table prefixes bart ships as test data
// (about a million IPv4 and IPv6 prefixes from a BGP full table) from the
// module cache, or returns nil if they are not there.
func bgpTable() []netip.Prefix {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gaissmai/bart").Output()
	if err != nil {
		return nil
	}
	f, err := os.Open(filepath.Join(strings.TrimSpace(string(dir)), "internal/tests/testdata/prefixes.txt.gz"))
	if err != nil {
		return nil
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil
	}
	var table []netip.Prefix
	seen := map[netip.Prefix]struct{}{}
	sc := bufio.NewScanner(gz)
	for sc.Scan() {
		p, err := netip.ParsePrefix(strings.TrimSpace(sc.Text()))
		if err != nil {
			continue
		}
		p = p.Masked()
		if _, dup := seen[p]; !dup {
			seen[p] = struct{}{}
			table = append(table, p)
		}
	}
	return table
}

func BenchmarkVerdict(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000, -1} {
		if n != 1_000 && n != 100_000 && testing.Short() {
			continue
		}
		name := fmt.Sprint(n)
		var table []netip.Prefix
		if n < 0 {
			// The real thing: a BGP full table, when bart's test data
			// is in the module cache.
			if table = bgpTable(); table == nil {
				continue
			}
			name = fmt.Sprintf("bgp-%d", len(table))
		} else {
			table = genTable(n)
		}
		var allow, deny []netip.Prefix
		for i, p := range table {
			if i%2 == 0 {
				allow = append(allow, p)
			} else {
				deny = append(deny, p)
			}
		}
		rs, err := NewRuleSet(RuleSetConfig{Allow: allow, Deny: deny})
		if err != nil {
			b.Fatal(err)
		}
		probes := make([]netip.Addr, 1024)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range probes {
			p := table[r.IntN(len(table))]
			a := p.Addr().AsSlice()
			a[len(a)-1] ^= byte(r.IntN(256))
			probes[i], _ = netip.AddrFromSlice(a)
		}
		b.Run("RuleSet/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				rs.Decide(Flow{Src: netip.AddrPortFrom(probes[i&1023], 0)})
			}
		})
		var bt bart.Table[int32] // the baseline: bart alone
		for i, p := range table {
			bt.Insert(p, int32(i))
		}
		b.Run("bare-bart/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				bt.Lookup(probes[i&1023])
			}
		})
		if n == 100_000 {
			// From every core at once: what a listener or middleware
			// under load does. Rule counters are striped per P, so
			// verdicts on different cores do not share a cache line.
			b.Run("RuleSet-parallel/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for i := rand.IntN(1024); pb.Next(); i++ {
						rs.Decide(Flow{Src: netip.AddrPortFrom(probes[i&1023], 0)})
					}
				})
			})
			b.Run("bare-bart-parallel/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for i := rand.IntN(1024); pb.Next(); i++ {
						bt.Lookup(probes[i&1023])
					}
				})
			})
		}
		if n == 1_000 {
			b.Run("linear-scan/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					naive(rs.lists, Deny, probes[i&1023])
				}
			})
		}
	}
}

func BenchmarkMiddleware(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	rs, _ := ParseRules(stringsReader("policy allow\ndeny 192.0.2.0/24\n"))
	fw, _ := New(Config{Rules: rs})
	req := httptest.NewRequest("GET", "/assets/app.js?v=3", nil)
	req.RemoteAddr = "203.0.113.9:4711"
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	run := func(b *testing.B, h http.Handler) {
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	}
	b.Run("firewall.Middleware", func(b *testing.B) { run(b, mustHTTPFilter(b, HTTPConfig{Filter: fw}).Wrap(ok)) })
	b.Run("bare handler", func(b *testing.B) { run(b, ok) })
}

func stringsReader(s string) *stringReader { return &stringReader{s: s} }

type stringReader struct{ s string }

func (r *stringReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p, r.s)
	r.s = r.s[n:]
	return n, nil
}

// behindProxy are requests as nginx (10.0.0.1, X-Forwarded-For) or an
// RFC 7239 proxy (172.16.0.1, Forwarded) hands them on, two hops deep.
var behindProxy = []struct{ name, peer, hdr, val string }{
	{"xff", "10.0.0.1:4711", "X-Forwarded-For", "192.0.2.10, 203.0.113.9, 10.0.0.2"},
	{"forwarded", "172.16.0.1:4711", "Forwarded", `for=192.0.2.10, for=203.0.113.9;proto=https, for="172.16.0.2:8080"`},
}

func benchRealIP(tb testing.TB) *RealIP {
	ri, err := NewRealIP([]TrustedProxy{{pfx("10.0.0.0/8"), "X-Forwarded-For"}, {pfx("172.16.0.0/12"), "Forwarded"}})
	if err != nil {
		tb.Fatal(err)
	}
	return ri
}

func BenchmarkMiddlewareBehindProxy(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	rs, _ := ParseRules(stringsReader("policy allow\ndeny 192.0.2.0/24\n"))
	fw, _ := New(Config{Rules: rs})
	lim, _ := NewLimiter(LimiterConfig{Rate: 1e9, Burst: 1 << 30})
	h := mustHTTPFilter(b, HTTPConfig{Filter: fw, Limiter: lim, RealIP: benchRealIP(b)}).Wrap(ok)
	for _, c := range behindProxy {
		req := httptest.NewRequest("GET", "/assets/app.js?v=3", nil)
		req.RemoteAddr = c.peer
		req.Header.Set("User-Agent", "bench")
		req.Header.Set(c.hdr, c.val)
		b.Run(c.name, func(b *testing.B) {
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkClientAddr: the walk alone, beside reading the peer address,
// which is all the no-proxy path does.
func BenchmarkClientAddr(b *testing.B) {
	ri := benchRealIP(b)
	for _, c := range behindProxy {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.peer
		req.Header.Set(c.hdr, c.val)
		b.Run("RealIP/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ri.ClientAddr(req)
			}
		})
	}
	b.Run("netip.ParseAddrPort(RemoteAddr)", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			netip.ParseAddrPort("10.0.0.1:4711")
		}
	})
}

// TestClientAddrNoAllocs: finding the client behind proxies allocates
// nothing, so the filter's hot path stays allocation-free.
func TestClientAddrNoAllocs(t *testing.T) {
	ri := benchRealIP(t)
	for _, c := range behindProxy {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.peer
		req.Header.Set(c.hdr, c.val)
		want := addr("203.0.113.9")
		if n := testing.AllocsPerRun(100, func() {
			if a, ok := ri.ClientAddr(req); a != want || !ok {
				t.Fatalf("%s: %v %v", c.name, a, ok)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations", c.name, n)
		}
	}
}
