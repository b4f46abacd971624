package balancer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/edgekit/edgekit/balancer"
)

// activePassive is a Policy written outside the package: every request
// goes to the first backend by ID that may be picked; the others stand by.
// It reads no key and no pool-wide load, and says so, so the Pool spares
// that work (both methods are optional).
type activePassive struct{}

func (activePassive) Build(backends []balancer.Endpoint) balancer.Picker {
	// Backends arrive sorted by ID; the first is the active one.
	var active balancer.Endpoint
	if len(backends) > 0 {
		active = backends[0]
	}
	return fixedPicker{active}
}

func (activePassive) ReadsKey() bool          { return false }
func (activePassive) ReadsPoolInFlight() bool { return false }

type fixedPicker struct{ e balancer.Endpoint }

func (p fixedPicker) Pick(balancer.PickInfo) balancer.Endpoint { return p.e }

// A user's Policy behind an L7 Proxy on loopback: requests go to the
// active backend, and to the standby once the active one is drained.
func ExamplePolicy() {
	serve := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	}
	active, standby := serve("active"), serve("standby")
	defer active.Close()
	defer standby.Close()

	pool, err := balancer.New(balancer.Config{Policy: activePassive{}})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	pool.Add(balancer.Backend{ID: "a", Addr: strings.TrimPrefix(active.URL, "http://")})
	pool.Add(balancer.Backend{ID: "b", Addr: strings.TrimPrefix(standby.URL, "http://")})

	proxy, err := balancer.NewProxy(balancer.ProxyConfig{Pool: pool})
	if err != nil {
		panic(err)
	}
	defer proxy.CloseIdleConnections()
	front := httptest.NewServer(proxy)
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	get := func() {
		resp, err := client.Get(front.URL + "/")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	get()
	drained, _ := pool.Drain("a")
	<-drained
	get()
	// Output:
	// active
	// standby
}

// A Pool picks a backend per request with its Policy; every Pick is
// finished with Done, which feeds outlier detection: consecutive failures
// eject a backend, and picks go around it.
func ExamplePool() {
	pool, err := balancer.New(balancer.Config{
		Policy:  balancer.WeightedRoundRobin(),
		Outlier: balancer.OutlierDetection{Consecutive: 2},
	})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	pool.Add(balancer.Backend{ID: "a", Addr: "10.0.0.1:80", Weight: 5})
	pool.Add(balancer.Backend{ID: "b", Addr: "10.0.0.2:80", Weight: 1})
	pool.Add(balancer.Backend{ID: "c", Addr: "10.0.0.3:80", Weight: 1})

	picks := func(n int, fail string) string {
		var seq []string
		for range n {
			pk, err := pool.Pick(balancer.PickInfo{})
			if err != nil {
				panic(err)
			}
			id := pk.Backend().ID
			seq = append(seq, id)
			if id == fail {
				pk.Done(balancer.DoneInfo{Err: errors.New("connection refused")})
			} else {
				pk.Done(balancer.DoneInfo{})
			}
		}
		return strings.Join(seq, " ")
	}
	fmt.Println("smooth weighted round robin:", picks(7, ""))
	picks(14, "b") // b fails twice in a row
	fmt.Println("b is", pool.Stats()[1].State)
	rest := picks(12, "")
	fmt.Println("12 picks without b: a", strings.Count(rest, "a"), "c", strings.Count(rest, "c"))
	// Output:
	// smooth weighted round robin: a a b a c a a
	// b is ejected
	// 12 picks without b: a 10 c 2
}

// Hash policies send one key to one backend, and every balancer that
// knows the same backend IDs agrees on it: two Pools here, two processes
// in a fleet.
func ExampleMaglev() {
	newPool := func() *balancer.Pool {
		p, err := balancer.New(balancer.Config{Policy: balancer.Maglev(0)})
		if err != nil {
			panic(err)
		}
		for _, id := range []string{"cache-1", "cache-2", "cache-3"} {
			p.Add(balancer.Backend{ID: id, Addr: id + ":80"})
		}
		return p
	}
	one, two := newPool(), newPool()
	defer one.Close()
	defer two.Close()
	agree := true
	for i := range 1000 {
		key := fmt.Sprintf("/video/%d.mp4", i)
		p1, _ := one.Pick(balancer.PickInfo{Key: key})
		p2, _ := two.Pick(balancer.PickInfo{Key: key})
		agree = agree && p1.Backend() == p2.Backend()
		p1.Done(balancer.DoneInfo{})
		p2.Done(balancer.DoneInfo{})
	}
	fmt.Println("two pools agree on 1000 keys:", agree)
	// Output: two pools agree on 1000 keys: true
}

// An L7 load balancer on loopback: requests under /api/ go to one pool,
// the rest to another, and each backend sees the client in
// X-Forwarded-For. Any http.Server (or httpfront.Server) serves it.
func ExampleProxy() {
	backend := func(name string) (*httptest.Server, balancer.Backend) {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s for %s", name, r.URL.Path, r.Header.Get("X-Forwarded-For"))
		}))
		return s, balancer.Backend{ID: name, Addr: strings.TrimPrefix(s.URL, "http://")}
	}
	webSrv, web := backend("web")
	apiSrv, api := backend("api")
	defer webSrv.Close()
	defer apiSrv.Close()

	webPool, _ := balancer.New(balancer.Config{})
	defer webPool.Close()
	webPool.Add(web)
	apiPool, _ := balancer.New(balancer.Config{})
	defer apiPool.Close()
	apiPool.Add(api)

	proxy, err := balancer.NewProxy(balancer.ProxyConfig{
		Pool:   webPool,
		Routes: []balancer.Route{{PathPrefix: "/api/", Pool: apiPool}},
	})
	if err != nil {
		panic(err)
	}
	defer proxy.CloseIdleConnections()
	front := httptest.NewServer(proxy)
	defer front.Close()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for _, path := range []string{"/index.html", "/api/users"} {
		resp, err := client.Get(front.URL + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	// Output:
	// web /index.html for 127.0.0.1
	// api /api/users for 127.0.0.1
}

// An L4 load balancer on loopback: each connection goes to a backend, and
// bytes flow both ways, half-close included (the backend answers once the
// client has finished sending). Serve drains when its context ends.
func ExampleTCPProxy() {
	// A backend that answers what it read, once the client's side closes.
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer bl.Close()
	go func() {
		for {
			c, err := bl.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(c)
			fmt.Fprintf(c, "echo: %s", b)
			c.Close()
		}
	}()

	pool, _ := balancer.New(balancer.Config{})
	defer pool.Close()
	pool.Add(balancer.Backend{ID: "echo", Addr: bl.Addr().String()})
	tp, err := balancer.NewTCPProxy(balancer.TCPProxyConfig{Pool: pool})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- tp.Serve(ctx, ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	io.WriteString(c, "ping")
	c.(*net.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(c)
	c.Close()
	fmt.Println(string(reply))

	stop()
	fmt.Println("Serve:", <-served)
	// Output:
	// echo: ping
	// Serve: <nil>
}
