package authority

import (
	"net/netip"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

// clientOf finds who asks req: the EDNS Client Subnet option (RFC 7871)
// when the query carries one, else src. rcode is FORMERR for an option
// that breaks RFC 7871 §6 (dnsproto.ClientSubnet), and ecs is the option
// to echo otherwise.
func clientOf(req *dns.Msg, src netip.Addr) (c client, ecs *dns.EDNS0_SUBNET, rcode int) {
	c = client{addr: src.Unmap()}
	if c.addr.IsValid() {
		c.source = c.addr.BitLen()
	}
	ecs, subnet, rcode := dnsproto.ClientSubnet(req)
	if rcode != dns.RcodeSuccess || ecs == nil {
		return c, nil, rcode
	}
	if !subnet.IsValid() { // FAMILY 0: no address at all
		return client{ecs: true}, ecs, dns.RcodeSuccess
	}
	return client{addr: subnet.Addr(), ecs: true, source: subnet.Bits()}, ecs, dns.RcodeSuccess
}

// echoSubnet adds to m's OPT the ECS option of the response (RFC 7871
// §7.2.1).
func echoSubnet(m *dns.Msg, q *dns.EDNS0_SUBNET, scope int) { dnsproto.EchoSubnet(m, q, scope) }
