package firewall

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/clock"
	"github.com/miekg/dns"
)

type traceRec struct {
	mu       sync.Mutex
	verdicts []VerdictEvent
	limits   []LimitEvent
}

func (tr *traceRec) trace() *Trace {
	return &Trace{
		Verdict:     func(e VerdictEvent) { tr.mu.Lock(); tr.verdicts = append(tr.verdicts, e); tr.mu.Unlock() },
		RateLimited: func(e LimitEvent) { tr.mu.Lock(); tr.limits = append(tr.limits, e); tr.mu.Unlock() },
	}
}

func (tr *traceRec) take() ([]VerdictEvent, []LimitEvent) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	v, l := tr.verdicts, tr.limits
	tr.verdicts, tr.limits = nil, nil
	return v, l
}

func traceRules(t *testing.T) *Firewall {
	rs, err := ParseRules(strings.NewReader("policy allow\ndeny 192.0.2.0/24\n"))
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := New(Config{Rules: rs})
	return fw
}

// TestTraceVerdicts: each entry point reports the verdict on the client
// it judged, with what decided it, and the refusals of its rate limit.
func TestTraceVerdicts(t *testing.T) {
	a := netip.MustParseAddr
	t.Run("http", func(t *testing.T) {
		fc := clock.NewFake(time.Time{})
		lim, _ := NewLimiter(LimiterConfig{Rate: 1, Burst: 1, Now: fc.Now})
		tr := &traceRec{}
		h, err := NewHTTPFilter(HTTPConfig{Filter: traceRules(t), Limiter: lim, Trace: tr.trace()})
		if err != nil {
			t.Fatal(err)
		}
		srv := h.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		for _, c := range []struct {
			peer   string
			status int
			action Action
			rule   string
			limit  bool
		}{
			{"198.51.100.1:1000", 200, Allow, "default", false},
			{"198.51.100.1:1000", 429, Allow, "default", true},
			{"192.0.2.7:1000", 403, Deny, "deny list", false},
		} {
			r := httptest.NewRequest("GET", "http://x/", nil)
			r.RemoteAddr = c.peer
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			vs, ls := tr.take()
			client := netip.MustParseAddrPort(c.peer).Addr()
			if w.Code != c.status || len(vs) != 1 || vs[0].Point != PointHTTP || vs[0].Client != client ||
				vs[0].Verdict.Action != c.action || vs[0].Verdict.Rule != c.rule {
				t.Errorf("%s: status %d, verdicts %+v", c.peer, w.Code, vs)
			}
			if c.limit != (len(ls) == 1) || c.limit && (ls[0].Client != client || ls[0].Point != PointHTTP) {
				t.Errorf("%s: rate limits %+v", c.peer, ls)
			}
		}
	})
	t.Run("dns", func(t *testing.T) {
		fc := clock.NewFake(time.Time{})
		rrl, _ := NewLimiter(LimiterConfig{Rate: 1, Burst: 1, Now: fc.Now})
		tr := &traceRec{}
		g, err := NewDNSGuard(dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			w.WriteMsg(m)
		}), DNSGuardConfig{Filter: traceRules(t), RRL: rrl, Trace: tr.trace()})
		if err != nil {
			t.Fatal(err)
		}
		q := new(dns.Msg)
		q.SetQuestion("example.com.", dns.TypeA)
		g.ServeDNS(&dnsRecorder{remote: &net.UDPAddr{IP: net.ParseIP("192.0.2.9"), Port: 53}}, q.Copy())
		g.ServeDNS(&dnsRecorder{remote: &net.UDPAddr{IP: net.ParseIP("192.0.2.9"), Port: 53}}, q.Copy())
		vs, ls := tr.take()
		if len(vs) != 1 || vs[0].Point != PointDNS || vs[0].Client != a("192.0.2.9") || vs[0].Verdict.Action != Deny {
			t.Errorf("verdicts %+v", vs)
		}
		if len(ls) != 1 || ls[0].Point != PointDNS || ls[0].Client != a("192.0.2.9") {
			t.Errorf("rate limits %+v", ls)
		}
	})
	t.Run("listener", func(t *testing.T) {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tr := &traceRec{}
		lim, _ := NewLimiter(LimiterConfig{Rate: 1e-9, Burst: 1})
		l, err := NewListener(inner, ListenerConfig{Filter: traceRules(t), ConnRate: lim, Trace: tr.trace()})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept() // the first; the second is refused
			if err == nil {
				accepted <- c
			}
			close(accepted)
			l.Accept() // refuses the second, then ends with Close
		}()
		c1, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c1.Close()
		if c := <-accepted; c != nil {
			defer c.Close()
		}
		// Refused: reset by the listener, which may come before Dial
		// returns.
		if c2, err := net.Dial("tcp", inner.Addr().String()); err == nil {
			c2.SetReadDeadline(time.Now().Add(10 * time.Second))
			c2.Read(make([]byte, 1))
			c2.Close()
		}
		vs, ls := tr.take()
		if len(vs) != 2 || vs[0].Point != PointListener || vs[0].Client != a("127.0.0.1") || vs[0].Verdict.Action != Allow {
			t.Errorf("verdicts %+v", vs)
		}
		if len(ls) != 1 || ls[0].Point != PointListener || ls[0].Client != a("127.0.0.1") {
			t.Errorf("rate limits %+v", ls)
		}
	})
}

// TestTraceUnsetAllocatesNothing: a request through the HTTP filter
// allocates the same with no Trace as with an empty one.
func TestTraceUnsetAllocatesNothing(t *testing.T) {
	measure := func(tr *Trace) float64 {
		h, _ := NewHTTPFilter(HTTPConfig{Filter: traceRules(t), Trace: tr})
		srv := h.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		r := httptest.NewRequest("GET", "http://x/", nil)
		w := httptest.NewRecorder()
		return testing.AllocsPerRun(100, func() { srv.ServeHTTP(w, r) })
	}
	if unset, empty := measure(nil), measure(&Trace{}); unset != empty {
		t.Fatalf("allocs per request: %v with no Trace, %v with an empty one", unset, empty)
	}
}
