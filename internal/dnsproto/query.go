package dnsproto

import (
	"encoding/binary"
	"errors"

	"github.com/miekg/dns"
)

// ErrCounts reports a query whose header counts do not match the records
// it carries.
var ErrCounts = errors.New("dnsproto: header counts do not match the records carried")

// IsQueryHeader reports whether msg is long enough to hold a header and
// has QR clear. A server answers nothing else: a packet without a header
// cannot be answered, and a response (QR set) is dropped so that two
// servers never answer each other in a loop.
func IsQueryHeader(msg []byte) bool {
	return len(msg) >= 12 && msg[2]&0x80 == 0
}

// UnpackQuery parses the query msg (at least a header long) into req.
// Beyond dns.Msg.Unpack's checks, the header's counts must match the
// records carried (ErrCounts): Unpack stops quietly where the message
// ends, so a header promising records that are not there would be
// answered (RFC 1035 §4.1.1 gives the counts; Unbound answers such a
// query FORMERR). On an error req holds what was read before it.
func UnpackQuery(msg []byte, req *dns.Msg) error {
	if err := req.Unpack(msg); err != nil {
		return err
	}
	for i, n := range [4]int{len(req.Question), len(req.Answer), len(req.Ns), len(req.Extra)} {
		if int(binary.BigEndian.Uint16(msg[4+2*i:])) != n {
			return ErrCounts
		}
	}
	return nil
}

// FormErr returns the reply to msg, a query at least a header long that
// did not parse into req (UnpackQuery failed): FORMERR, with the ID,
// opcode, RD and CD of msg's own header (RFC 1035 §4.1.1; Unbound copies
// the header too, whatever Unpack set), the questions read before the
// error, and our OPT if the query's OPT was read (RFC 6891 §7). It
// returns the client's UDP size as SetEDNS does, for Truncate.
func FormErr(msg []byte, req *dns.Msg) (reply *dns.Msg, clientSize int) {
	h := FormErrQuery(msg, req)
	m := Reply(h)
	m.Rcode = dns.RcodeFormatError
	m.Compress = true
	return m, SetEDNS(m, h)
}

// FormErrQuery is the query a FORMERR reply to msg answers, when msg (at
// least a header long) did not parse into req: the ID, opcode, RD and CD
// of msg's own header, whatever Unpack set, and the question and OPT
// records read before the error (Unpack stops at the first error and
// drops a section it could not read whole).
func FormErrQuery(msg []byte, req *dns.Msg) *dns.Msg {
	h := new(dns.Msg)
	h.Id = binary.BigEndian.Uint16(msg)
	h.Opcode = int(msg[2]>>3) & 0xf
	h.RecursionDesired = msg[2]&1 != 0
	h.CheckingDisabled = msg[3]&0x10 != 0
	h.Question, h.Extra = req.Question, req.Extra
	return h
}
