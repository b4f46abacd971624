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

// isSubName reports whether child is parent or a name below it, both
// canonical (lower case, fully qualified), without allocating as
// dns.IsSubDomain does. An escaped dot (\.) inside a label is no label
// boundary.
func isSubName(parent, child string) bool {
	if parent == "." || child == parent {
		return true
	}
	if len(child) <= len(parent) || !strings.HasSuffix(child, parent) {
		return false
	}
	i := len(child) - len(parent) - 1 // where the separating dot must be
	if child[i] != '.' {
		return false
	}
	escapes := 0
	for j := i - 1; j >= 0 && child[j] == '\\'; j-- {
		escapes++
	}
	return escapes%2 == 0
}

// soaForNegative returns the SOA for a negative answer, its TTL the
// minimum of the SOA's TTL and MINIMUM field (RFC 2308 §3).
func soaForNegative(soa *dns.SOA) dns.RR {
	c := dns.Copy(soa).(*dns.SOA)
	if c.Minttl < c.Hdr.Ttl {
		c.Hdr.Ttl = c.Minttl
	}
	return c
}

// parent returns the name one label up ("." for a TLD).
func parent(name string) string {
	if name == "." {
		return "."
	}
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}
