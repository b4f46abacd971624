package dnsproto

import (
	"slices"

	"github.com/miekg/dns"
)

// UDPSize is the UDP payload size a server here advertises in the OPT of
// its responses (RFC 6891 §6.2.5; 1232, the size of the 2020 DNS flag day
// and Unbound's default).
const UDPSize = 1232

// Reply starts the response to req (RFC 1035 §4.1.1): QR set, the ID and
// opcode copied, RD and CD copied for every opcode (dns.Msg.SetReply
// copies them only for QUERY; Unbound copies them always), and the
// question section as it was read (a query that did not parse has none,
// or the questions read before the error). AD is never set: nothing here
// validates DNSSEC. The caller sets the rcode, AA and RA, and adds the
// OPT with SetEDNS.
func Reply(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.Id = req.Id
	m.Response = true
	m.Opcode = req.Opcode
	m.RecursionDesired = req.RecursionDesired
	m.CheckingDisabled = req.CheckingDisabled
	if len(req.Question) == 1 {
		m.Question = []dns.Question{req.Question[0]}
	} else if len(req.Question) > 1 {
		m.Question = slices.Clone(req.Question)
	}
	return m
}

// SetEDNS adds the responder's OPT record to m when req carried one, as
// RFC 6891 §7 requires of every response, error responses included: our
// UDP payload size, version 0, and the DO bit copied from the query (RFC
// 3225 §3). It returns the size of the largest UDP response the client
// takes: its advertised payload size, never below 512 bytes (RFC 6891
// §6.2.5), or 512 without EDNS (RFC 1035 §4.2.1).
func SetEDNS(m, req *dns.Msg) (clientSize int) {
	opt := req.IsEdns0()
	if opt == nil {
		return dns.MinMsgSize
	}
	m.SetEdns0(UDPSize, opt.Do())
	return max(int(opt.UDPSize()), dns.MinMsgSize)
}

// Truncate fits the response m into size bytes (at least 512) for UDP and
// turns on name compression. A message that fits is left whole. One that
// does not is sent with TC set and only its question and OPT, as Unbound
// sends it: no partial RRset (RFC 2181 §9), and no referral without its
// in-domain glue (RFC 9471 §3.1 asks for TC then), so that the client
// retries over TCP (RFC 1035 §4.2.1).
func Truncate(m *dns.Msg, size int) {
	size = max(size, dns.MinMsgSize)
	// The uncompressed length first: cheap, and enough for most answers.
	m.Compress = false
	if m.Len() <= size {
		m.Compress = true
		return
	}
	m.Compress = true
	if m.Len() <= size {
		return
	}
	m.Truncated = true
	opt := m.IsEdns0()
	m.Answer, m.Ns, m.Extra = nil, nil, nil
	if opt != nil {
		m.Extra = []dns.RR{opt}
	}
	if m.Len() > size {
		m.Question = nil // only an echo of many questions comes here
	}
}
