package balancer_test

import (
	"fmt"
	"io"
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
