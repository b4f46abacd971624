package resolver

import (
	"strings"

	"github.com/miekg/dns"
)

// lower is dns.CanonicalName without allocating for names already in
// canonical form.
func lower(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			return dns.CanonicalName(name)
		}
	}
	if !strings.HasSuffix(name, ".") {
		return dns.CanonicalName(name)
	}
	return name
}

// childToward returns the ancestor of name one label below base (name
// itself when it is that close).
func childToward(base, name string) string {
	want := dns.CountLabel(base) + 1
	if dns.CountLabel(name) <= want {
		return name
	}
	labels := dns.SplitDomainName(name)
	return dns.Fqdn(strings.Join(labels[len(labels)-want:], "."))
}
