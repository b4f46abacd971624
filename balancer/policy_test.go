package balancer_test

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgekit/edgekit/balancer"
)

// wrapped is a Policy written by a user: it counts builds and forwards
// Build to the policy it wraps, and nothing else (none of the optional
// interfaces), as a wrapper written without knowing them would.
type wrapped struct {
	inner  balancer.Policy
	builds *atomic.Int64
}

func (w wrapped) Build(eps []balancer.Endpoint) balancer.Picker {
	w.builds.Add(1)
	return w.inner.Build(eps)
}

func userPool(t *testing.T, pol balancer.Policy, n int) *balancer.Pool {
	t.Helper()
	p, err := balancer.New(balancer.Config{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for i := range n {
		if err := p.Add(balancer.Backend{ID: fmt.Sprintf("b%02d", i), Addr: fmt.Sprintf("127.0.0.1:%d", 1000+i)}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// Every built-in policy wrapped in a user's type picks without panicking
// and still does its job. Before the Endpoint API, BoundedLoad wrapped so
// dereferenced nil in Pick: the Pool found the in-flight counter it needs
// through an unexported marker method the wrapper hid.
func TestWrappedPolicyNeverPanics(t *testing.T) {
	for _, name := range []string{"roundrobin", "wrr", "leastconn", "p2c", "ewma", "random", "maglev", "ring", "rendezvous", "bounded", "jump"} {
		t.Run(name, func(t *testing.T) {
			inner, err := balancer.PolicyByName(name)
			if err != nil {
				t.Fatal(err)
			}
			var builds atomic.Int64
			p := userPool(t, wrapped{inner, &builds}, 10)
			if builds.Load() == 0 {
				t.Fatal("the wrapper's Build was never called")
			}
			seen := map[string]int{}
			for i := range 1000 {
				pk, err := p.Pick(balancer.PickInfo{Key: fmt.Sprintf("/k/%d", i)})
				if err != nil {
					t.Fatal(err)
				}
				seen[pk.Backend().ID]++
				pk.Done(balancer.DoneInfo{})
			}
			if len(seen) < 5 {
				t.Fatalf("1000 picks over 10 backends reached only %d: %v", len(seen), seen)
			}
		})
	}
}

// A wrapped BoundedLoad keeps its bound: with picks held in flight, no
// backend carries more than c times the average plus one. The Pool keeps
// the pool-wide count for a policy that does not say it needs none.
func TestWrappedBoundedLoadKeepsItsBound(t *testing.T) {
	var builds atomic.Int64
	const c = 1.25
	p := userPool(t, wrapped{balancer.BoundedLoad(c), &builds}, 10)
	load := map[string]int{}
	var held []balancer.Pick
	for i := range 2000 {
		// Few distinct keys: without the bound they would pile up.
		pk, err := p.Pick(balancer.PickInfo{Key: fmt.Sprintf("/hot/%d", i%3)})
		if err != nil {
			t.Fatal(err)
		}
		load[pk.Backend().ID]++
		held = append(held, pk)
	}
	limit := int(math.Ceil(c*2000/10)) + 1
	for id, n := range load {
		if n > limit {
			t.Errorf("%s carries %d in flight, bound %d", id, n, limit)
		}
	}
	for _, pk := range held {
		pk.Done(balancer.DoneInfo{})
	}
}

// A wrapped keyed policy still receives keys: a Policy that does not say
// whether it reads PickInfo.Key is given one, so the same key keeps its
// backend through a Proxy.
func TestWrappedKeyedPolicyGetsKeys(t *testing.T) {
	var builds atomic.Int64
	backends := make([]*httptest.Server, 4)
	p, err := balancer.New(balancer.Config{Policy: wrapped{balancer.Maglev(0), &builds}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range backends {
		id := fmt.Sprint("b", i)
		backends[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, id) }))
		defer backends[i].Close()
		p.Add(balancer.Backend{ID: id, Addr: strings.TrimPrefix(backends[i].URL, "http://")})
	}
	px, err := balancer.NewProxy(balancer.ProxyConfig{Pool: p})
	if err != nil {
		t.Fatal(err)
	}
	defer px.CloseIdleConnections()
	front := httptest.NewServer(px)
	defer front.Close()
	get := func(path string) string {
		resp, err := http.Get(front.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	distinct := map[string]bool{}
	for i := range 40 {
		path := fmt.Sprintf("/obj/%d", i)
		first := get(path)
		if again := get(path); again != first {
			t.Fatalf("%s went to %s, then %s", path, first, again)
		}
		distinct[first] = true
	}
	if len(distinct) < 2 {
		t.Fatalf("40 keys all went to %v", distinct)
	}
	http.DefaultClient.CloseIdleConnections()
}

// A Policy answering with an Endpoint it was not given (another pool's,
// or a zero one) gets ErrNoBackend, not a pick of a stranger.
func TestPolicyForeignEndpointRefused(t *testing.T) {
	var stolen atomic.Pointer[balancer.Endpoint]
	other2, err := balancer.New(balancer.Config{Policy: policyFunc(func(eps []balancer.Endpoint) balancer.Picker {
		if len(eps) > 0 {
			stolen.Store(&eps[0])
		}
		return pickerFunc(func(balancer.PickInfo) balancer.Endpoint { return balancer.Endpoint{} })
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer other2.Close()
	other2.Add(balancer.Backend{ID: "x", Addr: "127.0.0.1:1"})
	if _, err := other2.Pick(balancer.PickInfo{}); err != balancer.ErrNoBackend {
		t.Fatalf("zero Endpoint: err %v, want ErrNoBackend", err)
	}
	thief, err := balancer.New(balancer.Config{Policy: policyFunc(func([]balancer.Endpoint) balancer.Picker {
		return pickerFunc(func(balancer.PickInfo) balancer.Endpoint { return *stolen.Load() })
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	thief.Add(balancer.Backend{ID: "y", Addr: "127.0.0.1:2"})
	if pk, err := thief.Pick(balancer.PickInfo{}); err != balancer.ErrNoBackend {
		t.Fatalf("foreign Endpoint: picked %v, err %v; want ErrNoBackend", pk.Backend(), err)
	}
}

type policyFunc func([]balancer.Endpoint) balancer.Picker

func (f policyFunc) Build(eps []balancer.Endpoint) balancer.Picker { return f(eps) }

type pickerFunc func(balancer.PickInfo) balancer.Endpoint

func (f pickerFunc) Pick(info balancer.PickInfo) balancer.Endpoint { return f(info) }

// A Balancer that is not a Pool drives the L7 Proxy: its picks are made
// with NewPick, Done reaches its callback once per request, and the sticky
// cookie is ignored for a balancer without StickyBalancer.
func TestProxyOverUserBalancer(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer be.Close()
	ub := &fixedBalancer{b: balancer.Backend{ID: "only", Addr: strings.TrimPrefix(be.URL, "http://")}}
	px, err := balancer.NewProxy(balancer.ProxyConfig{Pool: ub, Sticky: balancer.StickyCookie{Name: "S"}})
	if err != nil {
		t.Fatal(err)
	}
	defer px.CloseIdleConnections()
	front := httptest.NewServer(px)
	defer front.Close()
	for range 3 {
		resp, err := http.Get(front.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("body %q", b)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	if ub.picks.Load() != 3 || ub.dones.Load() != 3 {
		t.Fatalf("picks %d, dones %d; want 3 and 3", ub.picks.Load(), ub.dones.Load())
	}
}

type fixedBalancer struct {
	b            balancer.Backend
	picks, dones atomic.Int64
}

func (f *fixedBalancer) Pick(balancer.PickInfo) (balancer.Pick, error) {
	f.picks.Add(1)
	return balancer.NewPick(f.b, func(balancer.DoneInfo) { f.dones.Add(1) }), nil
}

// BenchmarkPickWrapped is the price of a user's wrapper that does not
// forward KeyReader and LoadReader: the Pool then keeps the pool-wide
// in-flight count (one more atomic add per pick and per Done) beside the
// same policy unwrapped.
func BenchmarkPickWrapped(b *testing.B) {
	for _, name := range []string{"roundrobin", "bounded"} {
		for _, wrap := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/wrapped=%v", name, wrap), func(b *testing.B) {
				pol, _ := balancer.PolicyByName(name)
				if wrap {
					pol = wrapped{pol, new(atomic.Int64)}
				}
				p, _ := balancer.New(balancer.Config{Policy: pol})
				defer p.Close()
				for i := range 10 {
					p.Add(balancer.Backend{ID: fmt.Sprint("b", i), Addr: "127.0.0.1:1"})
				}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					pk, _ := p.Pick(balancer.PickInfo{Key: "/k"})
					pk.Done(balancer.DoneInfo{})
				}
			})
		}
	}
}
