package resolver

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/edgekit/edgekit/resolver/resolvertest"
)

// LookupMX sorts by preference, as net.Resolver.LookupMX does (RFC 5321
// §5.1: lower preference first), whatever order the zone lists them in;
// LookupNS returns the NS set; a missing name is a *net.DNSError with
// IsNotFound.
func TestLookupMXAndNS(t *testing.T) {
	h, err := resolvertest.New(resolvertest.Config{Delegate: true, Files: []resolvertest.ZoneFile{
		{Addr: "127.0.0.4", Origin: "mail.org.", Text: `$TTL 300
mail.org. IN SOA ns1.mail.org. admin.mail.org. 1 7200 3600 1209600 60
mail.org. IN NS ns1.mail.org.
mail.org. IN NS ns2.mail.org.
ns1 IN A 127.0.0.4
ns2 IN A 127.0.0.4
mail.org. IN MX 30 c.mail.org.
mail.org. IN MX 10 a.mail.org.
mail.org. IN MX 20 b.mail.org.
`}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r := newResolver(t, Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, Timeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mx, err := r.LookupMX(ctx, "mail.org")
	if err != nil || len(mx) != 3 {
		t.Fatalf("MX %v %v", mx, err)
	}
	for i, want := range []string{"a.mail.org.", "b.mail.org.", "c.mail.org."} {
		if mx[i].Host != want || mx[i].Pref != uint16(10*(i+1)) {
			t.Fatalf("MX %d: %+v, want %s", i, *mx[i], want)
		}
	}
	ns, err := r.LookupNS(ctx, "mail.org")
	if err != nil || len(ns) != 2 {
		t.Fatalf("NS %v %v", ns, err)
	}
	var de *net.DNSError
	if _, err := r.LookupMX(ctx, "nope.mail.org"); !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("NXDOMAIN: %v", err)
	}
}
