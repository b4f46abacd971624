package authority

import (
	"net/netip"

	"github.com/miekg/dns"
)

// clientOf finds who asks req: the EDNS Client Subnet option (RFC 7871)
// when the query carries one, else src. rcode is FORMERR for an option
// that breaks RFC 7871 §6, and ecs is the option to echo otherwise.
//
// miekg/dns has already rejected an unknown FAMILY and a SOURCE
// PREFIX-LENGTH longer than the address when it read the message; it
// pads short ADDRESS fields and drops excess octets, so those two
// errors cannot be seen here. The rest is checked again, since Answer
// also takes messages built in memory.
func clientOf(req *dns.Msg, src netip.Addr) (c client, ecs *dns.EDNS0_SUBNET, rcode int) {
	c = client{addr: src.Unmap()}
	if c.addr.IsValid() {
		c.source = c.addr.BitLen()
	}
	opt := req.IsEdns0()
	if opt == nil {
		return c, nil, dns.RcodeSuccess
	}
	for _, o := range opt.Option {
		e, ok := o.(*dns.EDNS0_SUBNET)
		if !ok {
			continue
		}
		if ecs != nil {
			// Two subnets cannot both be the client's.
			return c, nil, dns.RcodeFormatError
		}
		ecs = e
	}
	if ecs == nil {
		return c, nil, dns.RcodeSuccess
	}
	if ecs.SourceScope != 0 { // §6: "In queries, it MUST be set to 0."
		return c, nil, dns.RcodeFormatError
	}
	var addr netip.Addr
	switch ecs.Family {
	case 0: // dig's "+subnet=0" of old: no address at all
		if ecs.SourceNetmask != 0 {
			return c, nil, dns.RcodeFormatError
		}
		return client{ecs: true}, ecs, dns.RcodeSuccess
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
		return c, nil, dns.RcodeFormatError
	}
	// §6: ADDRESS bits beyond SOURCE PREFIX-LENGTH must be zero.
	pfx := netip.PrefixFrom(addr, int(ecs.SourceNetmask))
	if pfx.Masked().Addr() != addr {
		return c, nil, dns.RcodeFormatError
	}
	return client{addr: addr, ecs: true, source: int(ecs.SourceNetmask)}, ecs, dns.RcodeSuccess
}

// echoSubnet adds to m's OPT the ECS option of the response (RFC 7871
// §7.2.1): the query's FAMILY, SOURCE PREFIX-LENGTH and ADDRESS, and the
// SCOPE PREFIX-LENGTH the answer holds for.
func echoSubnet(m *dns.Msg, q *dns.EDNS0_SUBNET, scope int) {
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
	opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{
		Code:          dns.EDNS0SUBNET,
		Family:        q.Family,
		SourceNetmask: q.SourceNetmask,
		SourceScope:   uint8(min(scope, bits)),
		Address:       q.Address,
	})
}
