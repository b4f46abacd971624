package balancer_test

import (
	"testing"

	"github.com/edgekit/edgekit/balancer"
)

// A built-in policy asked to build from no backend, or only from zero
// Endpoints (which a user's Policy wrapping it may hand on), returns a
// Picker that offers none instead of panicking on its first pick.
func TestBuiltinPoliciesBuildFromNothing(t *testing.T) {
	for _, name := range []string{"roundrobin", "wrr", "leastconn", "p2c", "ewma", "random", "maglev", "ring", "rendezvous", "bounded"} {
		pol, err := balancer.PolicyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, eps := range [][]balancer.Endpoint{nil, {{}, {}}} {
			if e := pol.Build(eps).Pick(balancer.PickInfo{Key: "k"}); e != (balancer.Endpoint{}) {
				t.Errorf("%s: Build(%d zero endpoints).Pick = %v, want the zero Endpoint", name, len(eps), e.Backend())
			}
		}
	}
}
