package dnsproto

import (
	"testing"

	"github.com/miekg/dns"
)

func TestIsSubName(t *testing.T) {
	for _, c := range []struct {
		parent, child string
		want          bool
	}{
		{".", "example.com.", true},
		{"example.com.", "example.com.", true},
		{"example.com.", "www.example.com.", true},
		{"example.com.", "wwwexample.com.", false},
		{"example.com.", "com.", false},
		{"example.com.", `a\.example.com.`, false}, // one label "a.example"
		{"example.com.", `a\\.example.com.`, true}, // label "a\" then example
		{"com.", `a\.example.com.`, true},
	} {
		if got := IsSubName(c.parent, c.child); got != c.want {
			t.Errorf("IsSubName(%q, %q) = %v, want %v", c.parent, c.child, got, c.want)
		}
		if got := dns.IsSubDomain(c.parent, c.child); got != c.want {
			t.Errorf("dns.IsSubDomain(%q, %q) = %v, disagrees", c.parent, c.child, got)
		}
	}
}

func TestParent(t *testing.T) {
	for name, want := range map[string]string{
		".": ".", "com.": ".", "example.com.": "com.", "www.example.com.": "example.com.",
		`a\.b.example.com.`: "example.com.",
	} {
		if got := Parent(name); got != want {
			t.Errorf("Parent(%q) = %q, want %q", name, got, want)
		}
	}
}

// RFC 2308 §3: a negative answer's SOA lives for the lesser of its TTL
// and its MINIMUM field; the zone's own SOA is not changed.
func TestRFC2308_NegativeSOA(t *testing.T) {
	for _, c := range []struct {
		text string
		want uint32
	}{
		{"example.com. 3600 IN SOA ns. admin. 1 7200 3600 1209600 300", 300},
		{"example.com. 60 IN SOA ns. admin. 1 7200 3600 1209600 300", 60},
	} {
		rr, err := dns.NewRR(c.text)
		if err != nil {
			t.Fatal(err)
		}
		soa := rr.(*dns.SOA)
		before := soa.Hdr.Ttl
		if got := NegativeSOA(soa).Header().Ttl; got != c.want {
			t.Errorf("%s: TTL %d, want %d", c.text, got, c.want)
		}
		if soa.Hdr.Ttl != before {
			t.Errorf("%s: the zone's SOA changed", c.text)
		}
	}
}
