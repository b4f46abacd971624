package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const testZone = `$TTL 300
cdn.example. IN SOA ns.cdn.example. admin.cdn.example. 1 7200 3600 1209600 60
cdn.example. IN NS ns.cdn.example.
ns IN A 127.0.0.53
`

const testSteer = `{
  "steer": [{"name": "shop.cdn.example.", "pools": [
    {"name": "eu", "countries": ["DE"], "continents": ["EU"], "lat": 50.1, "lon": 8.7, "members": ["127.0.0.2"]},
    {"name": "us", "countries": ["US"], "continents": ["NA"], "lat": 39.0, "lon": -77.5, "members": ["127.0.0.3"]}
  ]}],
  "locations": [
    {"network": "198.18.0.0/16", "country": "DE", "continent": "EU"},
    {"network": "198.19.0.0/16", "country": "US", "continent": "NA"}
  ],
  "check": {"port": %d, "interval": "1h"}
}`

// lines is an io.Writer handing each write to a channel.
type lines chan string

func (l lines) Write(b []byte) (int, error) { l <- string(b); return len(b), nil }

func files(t *testing.T, port int) (zone, steer string) {
	dir := t.TempDir()
	zone, steer = filepath.Join(dir, "cdn.zone"), filepath.Join(dir, "steer.json")
	if err := os.WriteFile(zone, []byte(testZone), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(steer, fmt.Appendf(nil, testSteer, port), 0o600); err != nil {
		t.Fatal(err)
	}
	return zone, steer
}

func digSubnet(t *testing.T, server, subnet string) (addrs []string, scope uint8, ttl uint32) {
	t.Helper()
	ip, ipnet, _ := net.ParseCIDR(subnet)
	bits, _ := ipnet.Mask.Size()
	q := new(dns.Msg)
	q.SetQuestion("shop.cdn.example.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(bits), Address: ip.To4()}}
	m, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, server)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range m.Answer {
		addrs = append(addrs, rr.(*dns.A).A.String())
		ttl = rr.Header().Ttl
	}
	slices.Sort(addrs)
	return addrs, m.IsEdns0().Option[0].(*dns.EDNS0_SUBNET).SourceScope, ttl
}

// Two client subnets reach the edges of their own region; when the US
// edge fails its check, US clients move to Europe.
func TestSteersAndFailsOver(t *testing.T) {
	eu, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("no 127.0.0.2 on this host:", err)
	}
	defer eu.Close()
	port := eu.Addr().(*net.TCPAddr).Port
	us, err := net.Listen("tcp", fmt.Sprintf("127.0.0.3:%d", port))
	if err != nil {
		t.Skip("127.0.0.3 port taken:", err)
	}
	zone, steer := files(t, port)
	out := make(lines, 16)
	svc, err := start("127.0.0.1:0", zone, "cdn.example.", steer, "", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ subnet, want string }{{"198.18.5.0/24", "127.0.0.2"}, {"198.19.5.0/24", "127.0.0.3"}} {
		got, scope, ttl := digSubnet(t, svc.addr, c.subnet)
		if !slices.Equal(got, []string{c.want}) || scope != 16 || ttl != 30 {
			t.Errorf("%s: %v scope %d ttl %d", c.subnet, got, scope, ttl)
		}
	}
	svc.close()

	us.Close()
	svc, err = start("127.0.0.1:0", zone, "cdn.example.", steer, "", out)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()
	select {
	case l := <-out:
		if !strings.Contains(l, "127.0.0.3 down") {
			t.Fatalf("health line %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no health transition reported")
	}
	if got, _, _ := digSubnet(t, svc.addr, "198.19.5.0/24"); !slices.Equal(got, []string{"127.0.0.2"}) {
		t.Fatalf("US client after failover: %v", got)
	}
}

func TestBadInput(t *testing.T) {
	zone, steer := files(t, 80)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"steer": [{"name": "shop.cdn.example.", "policy": "nearest", "pools": []}]}`), 0o600)
	for _, c := range [][4]string{
		{"", "cdn.example.", steer, ""},
		{zone, "cdn.example.", bad, ""},
		{zone, "cdn.example.", steer, filepath.Join(t.TempDir(), "missing.mmdb")},
		{zone, "other.example.", steer, ""},
	} {
		if svc, err := start("127.0.0.1:0", c[0], c[1], c[2], c[3], os.Stdout); err == nil {
			svc.close()
			t.Errorf("%v: started", c)
		}
	}
}

// The sample files of the package doc serve what they promise.
func TestSampleFiles(t *testing.T) {
	svc, err := start("127.0.0.1:0", "testdata/cdn.zone", "cdn.example.", "testdata/steer.json", "", os.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()
	for _, c := range []struct {
		subnet string
		want   []string
	}{
		{"198.18.1.0/24", []string{"192.0.2.10", "192.0.2.11"}},
		{"198.19.1.0/24", []string{"198.51.100.10"}},
		{"192.0.2.0/24", []string{"192.0.2.10", "192.0.2.11"}}, // unknown: the first pool
	} {
		if got, _, ttl := digSubnet(t, svc.addr, c.subnet); !slices.Equal(got, c.want) || ttl != 30 {
			t.Errorf("%s: %v ttl %d", c.subnet, got, ttl)
		}
	}
}
