package dnsproto

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func ecsQuery(opts ...dns.EDNS0) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion("example.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().Option = opts
	return q
}

// RFC 7871 §6: what an option names, and which options are FORMERR.
func TestRFC7871_S6_ClientSubnet(t *testing.T) {
	for _, c := range []struct {
		name  string
		opt   *dns.EDNS0_SUBNET
		want  string // the subnet; "" for none
		rcode int
	}{
		{"ipv4 /24", &dns.EDNS0_SUBNET{Family: 1, SourceNetmask: 24, Address: net.IPv4(10, 1, 2, 0)}, "10.1.2.0/24", 0},
		{"ipv6 /56", &dns.EDNS0_SUBNET{Family: 2, SourceNetmask: 56, Address: net.ParseIP("2001:db8:0:aa00::")}, "2001:db8:0:aa00::/56", 0},
		{"ipv4 /0 opt-out", &dns.EDNS0_SUBNET{Family: 1}, "0.0.0.0/0", 0},
		{"family 0", &dns.EDNS0_SUBNET{Family: 0}, "", 0},
		{"family 0 with bits", &dns.EDNS0_SUBNET{Family: 0, SourceNetmask: 8}, "", dns.RcodeFormatError},
		{"scope set in a query", &dns.EDNS0_SUBNET{Family: 1, SourceNetmask: 24, SourceScope: 24, Address: net.IPv4(10, 1, 2, 0)}, "", dns.RcodeFormatError},
		{"bits beyond source", &dns.EDNS0_SUBNET{Family: 1, SourceNetmask: 24, Address: net.IPv4(10, 1, 2, 3)}, "", dns.RcodeFormatError},
		{"source longer than address", &dns.EDNS0_SUBNET{Family: 1, SourceNetmask: 33, Address: net.IPv4(10, 1, 2, 3)}, "", dns.RcodeFormatError},
		{"ipv6 family, ipv4 address", &dns.EDNS0_SUBNET{Family: 2, SourceNetmask: 24, Address: net.IP{10, 1, 2, 0}}, "", dns.RcodeFormatError},
		{"unknown family", &dns.EDNS0_SUBNET{Family: 3}, "", dns.RcodeFormatError},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opt.Code = dns.EDNS0SUBNET
			opt, subnet, rcode := ClientSubnet(ecsQuery(c.opt))
			if rcode != c.rcode {
				t.Fatalf("rcode %d, want %d", rcode, c.rcode)
			}
			if rcode != dns.RcodeSuccess {
				if opt != nil {
					t.Fatal("option returned with FORMERR")
				}
				return
			}
			got := ""
			if subnet.IsValid() {
				got = subnet.String()
			}
			if got != c.want || opt != c.opt {
				t.Fatalf("got %q %v, want %q", got, opt, c.want)
			}
		})
	}
	two := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 8, Address: net.IPv4(10, 0, 0, 0)}
	if _, _, rcode := ClientSubnet(ecsQuery(two, two)); rcode != dns.RcodeFormatError {
		t.Fatalf("two options: rcode %d", rcode)
	}
	if opt, _, rcode := ClientSubnet(ecsQuery()); opt != nil || rcode != 0 {
		t.Fatal("no option")
	}
}

// SubnetOption packs what ClientSubnet reads back (RFC 7871 §6: ADDRESS
// cut to the octets SOURCE PREFIX-LENGTH needs).
func TestSubnetOptionRoundTrip(t *testing.T) {
	for _, s := range []string{"10.1.2.0/24", "10.1.2.128/25", "0.0.0.0/0", "2001:db8::/56", "2001:db8::1/128", "::/0"} {
		p := netip.MustParsePrefix(s)
		wire, err := ecsQuery(SubnetOption(p, 0)).Pack()
		if err != nil {
			t.Fatal(err)
		}
		var m dns.Msg
		if err := m.Unpack(wire); err != nil {
			t.Fatal(err)
		}
		_, got, rcode := ClientSubnet(&m)
		if rcode != 0 || got != p {
			t.Fatalf("%s: got %v rcode %d", s, got, rcode)
		}
	}
}

// FuzzClientSubnet feeds arbitrary option bytes through the wire reader
// and ClientSubnet: no panic; a subnet read is masked, and packs and reads
// back the same (round trip).
func FuzzClientSubnet(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 1, 24, 0, 10, 1, 2},
		{0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0xaa, 0},
		{0, 0, 0, 0},
		{0, 1, 24, 0, 10, 1, 2, 3},
		{0, 1, 33, 0, 10, 1, 2, 0, 0},
		{0, 1, 0, 0},
		{0, 1, 24, 16, 10, 1, 2},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		wire, err := ecsQuery(&dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: data}).Pack()
		if err != nil {
			return
		}
		var in dns.Msg
		if err := in.Unpack(wire); err != nil {
			return
		}
		opt, subnet, rcode := ClientSubnet(&in)
		if rcode != dns.RcodeSuccess || !subnet.IsValid() {
			return
		}
		if opt == nil || subnet.Masked() != subnet {
			t.Fatalf("subnet %v not masked (option %v)", subnet, opt)
		}
		wire, err = ecsQuery(SubnetOption(subnet, 0)).Pack()
		if err != nil {
			t.Fatal(err)
		}
		var back dns.Msg
		if err := back.Unpack(wire); err != nil {
			t.Fatal(err)
		}
		if _, again, rcode := ClientSubnet(&back); rcode != 0 || again != subnet {
			t.Fatalf("round trip %v -> %v (rcode %d)", subnet, again, rcode)
		}
	})
}
