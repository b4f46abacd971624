package reqmatch

import (
	"net/http/httptest"
	"testing"
)

func TestMatches(t *testing.T) {
	r := httptest.NewRequest("GET", "http://Shop.Example:8080/api/v1?x=1", nil)
	r.Header.Add("X-Tenant", "a")
	r.Header.Add("X-Tenant", "b")
	for _, tc := range []struct {
		name string
		m    Match
		want bool
	}{
		{"empty matches all", Match{}, true},
		{"host ignores port and case (RFC 9110 §4.2.3)", Match{Host: "shop.example"}, true},
		{"other host", Match{Host: "other.example"}, false},
		{"path prefix", Match{PathPrefix: "/api/"}, true},
		{"other prefix", Match{PathPrefix: "/static/"}, false},
		{"header present", Match{Header: "x-tenant"}, true},
		{"header value on any field line", Match{Header: "X-Tenant", Value: "b"}, true},
		{"header value absent", Match{Header: "X-Tenant", Value: "c"}, false},
		{"header absent", Match{Header: "X-Other"}, false},
		{"all conditions", Match{Host: "SHOP.example", PathPrefix: "/api", Header: "X-Tenant", Value: "a"}, true},
	} {
		if got := tc.m.Matches(r); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHost(t *testing.T) {
	for in, want := range map[string]string{"a.example:80": "a.example", "a.example": "a.example", "[::1]:443": "::1", "[::1]": "[::1]"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = in
		if got := Host(r); got != want {
			t.Errorf("Host(%q) = %q, want %q", in, got, want)
		}
	}
}
