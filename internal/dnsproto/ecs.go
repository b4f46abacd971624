package dnsproto

import (
	"net/netip"

	"github.com/miekg/dns"
)

// ClientSubnet reads the EDNS Client Subnet option (RFC 7871 §6) of the
// query req, for the authoritative server and the recursive resolver
// alike. It returns the option (nil when req carries none) and the subnet
// it names: the ADDRESS masked to SOURCE PREFIX-LENGTH, a prefix of length
// 0 for a client that asks for no address to be used (§7.1.2), and the
// invalid Prefix for FAMILY 0 (dig's "+subnet=0" of old, which names no
// family). rcode is FORMERR for an option that breaks §6, and the option
// is then nil; RcodeSuccess otherwise.
//
// miekg/dns has already rejected an unknown FAMILY and a SOURCE
// PREFIX-LENGTH longer than the address when it read the message; it pads
// short ADDRESS fields and drops excess octets, so those two errors
// cannot be seen here. The rest is checked again, since a message built
// in memory never went through the reader.
func ClientSubnet(req *dns.Msg) (opt *dns.EDNS0_SUBNET, subnet netip.Prefix, rcode int) {
	o := req.IsEdns0()
	if o == nil {
		return nil, netip.Prefix{}, dns.RcodeSuccess
	}
	var ecs *dns.EDNS0_SUBNET
	for _, x := range o.Option {
		e, ok := x.(*dns.EDNS0_SUBNET)
		if !ok {
			continue
		}
		if ecs != nil {
			// Two subnets cannot both be the client's.
			return nil, netip.Prefix{}, dns.RcodeFormatError
		}
		ecs = e
	}
	if ecs == nil {
		return nil, netip.Prefix{}, dns.RcodeSuccess
	}
	if ecs.SourceScope != 0 { // §6: "In queries, it MUST be set to 0."
		return nil, netip.Prefix{}, dns.RcodeFormatError
	}
	var addr netip.Addr
	switch ecs.Family {
	case 0:
		if ecs.SourceNetmask != 0 {
			return nil, netip.Prefix{}, dns.RcodeFormatError
		}
		return ecs, netip.Prefix{}, dns.RcodeSuccess
	case 1:
		if ip4 := ecs.Address.To4(); ip4 != nil {
			addr, _ = netip.AddrFromSlice(ip4)
		} else if ecs.Address == nil && ecs.SourceNetmask == 0 {
			addr = netip.IPv4Unspecified()
		}
	case 2:
		if len(ecs.Address) == 16 {
			addr, _ = netip.AddrFromSlice(ecs.Address)
		} else if ecs.Address == nil && ecs.SourceNetmask == 0 {
			addr = netip.IPv6Unspecified()
		}
	}
	if !addr.IsValid() || int(ecs.SourceNetmask) > addr.BitLen() {
		return nil, netip.Prefix{}, dns.RcodeFormatError
	}
	// §6: ADDRESS bits beyond SOURCE PREFIX-LENGTH must be zero.
	pfx := netip.PrefixFrom(addr, int(ecs.SourceNetmask))
	if pfx.Masked().Addr() != addr {
		return nil, netip.Prefix{}, dns.RcodeFormatError
	}
	return ecs, pfx, dns.RcodeSuccess
}

// SubnetOption returns the ECS option naming subnet (masked) with the
// given SCOPE PREFIX-LENGTH: what a resolver sends (scope 0) and what a
// server answers (RFC 7871 §6, §7.2.1). The ADDRESS is cut to the octets
// SOURCE PREFIX-LENGTH needs, as §6 asks.
func SubnetOption(subnet netip.Prefix, scope int) *dns.EDNS0_SUBNET {
	subnet = subnet.Masked()
	e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(subnet.Bits()),
		SourceScope: uint8(min(max(scope, 0), subnet.Addr().BitLen()))}
	if subnet.Addr().Is6() {
		e.Family = 2
	}
	e.Address = subnet.Addr().AsSlice()
	return e
}

// EchoSubnet adds to m's OPT (if it has one) the ECS option of the
// response to a query that carried q (RFC 7871 §7.2.1): the query's
// FAMILY, SOURCE PREFIX-LENGTH and ADDRESS, and the SCOPE PREFIX-LENGTH
// the answer holds for, at most the address's length.
func EchoSubnet(m *dns.Msg, q *dns.EDNS0_SUBNET, scope int) {
	opt := m.IsEdns0()
	if opt == nil {
		return
	}
	bits := 0
	switch q.Family {
	case 1:
		bits = 32
	case 2:
		bits = 128
	}
	// The option and, for an OPT without options (the usual case), the
	// one-element slice holding it come in one allocation.
	e := &echoed{sub: dns.EDNS0_SUBNET{
		Code:          dns.EDNS0SUBNET,
		Family:        q.Family,
		SourceNetmask: q.SourceNetmask,
		SourceScope:   uint8(min(max(scope, 0), bits)),
		Address:       q.Address,
	}}
	if len(opt.Option) == 0 {
		e.opts[0] = &e.sub
		opt.Option = e.opts[:]
		return
	}
	opt.Option = append(opt.Option, &e.sub)
}

type echoed struct {
	sub  dns.EDNS0_SUBNET
	opts [1]dns.EDNS0
}
