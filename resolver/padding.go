package resolver

import (
	"crypto/tls"
	"net"

	"github.com/miekg/dns"
)

// paddingBlock is the size replies are padded to a multiple of: RFC 8467
// §4.1's Block-Length Padding, 468 octets for responses.
const paddingBlock = 468

// padEncrypted pads m, the reply to req, when it goes over c and c is a
// TLS connection (DNS over TLS); see pad.
func padEncrypted(c net.Conn, m, req *dns.Msg) {
	if _, ok := c.(*tls.Conn); ok {
		pad(m, req)
	}
}

// pad adds an EDNS(0) Padding option (RFC 7830) to m, the reply to req,
// that makes m's packed size a multiple of paddingBlock, when req carried
// a Padding option (RFC 7830 §4: the responder then MUST pad) and m an
// OPT. Only for encrypted transports: padding in the clear only costs
// bytes (RFC 8467 §4). m must be final (sections, compression).
func pad(m, req *dns.Msg) {
	qopt := req.IsEdns0()
	opt := m.IsEdns0()
	if qopt == nil || opt == nil {
		return
	}
	asked := false
	for _, o := range qopt.Option {
		if o.Option() == dns.EDNS0PADDING {
			asked = true
			break
		}
	}
	if !asked {
		return
	}
	n := m.Len() + 4 // the option's code and length
	p := (paddingBlock - n%paddingBlock) % paddingBlock
	if n+p > dns.MaxMsgSize {
		return
	}
	opt.Option = append(opt.Option, &dns.EDNS0_PADDING{Padding: make([]byte, p)})
}
