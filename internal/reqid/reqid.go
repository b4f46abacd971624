// Package reqid reads and makes request IDs for access logs: the
// client's X-Request-ID when it is a sane token, else a new one.
package reqid

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"
)

// Header is the field a request ID travels in (as nginx's $request_id,
// HAProxy's unique-id-header and Heroku's router use it).
const Header = "X-Request-Id"

// MaxLen bounds an ID taken from a client.
const MaxLen = 128

// Valid reports whether s may be used as a request ID: 1 to MaxLen
// visible ASCII characters (no space, no control, no quote or backslash,
// so it is logged as it is).
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Generator makes request IDs: a random 16-hex-digit prefix drawn once,
// a dash and a counter in base 36, unique per generator and, by the
// prefix, across processes. It is safe for concurrent use; its zero value
// is not usable: call New.
type Generator struct {
	prefix string
	n      atomic.Uint64
}

// New returns a Generator with a fresh random prefix.
func New() *Generator {
	var b [8]byte
	rand.Read(b[:])
	return &Generator{prefix: hex.EncodeToString(b[:]) + "-"}
}

// Next returns a new ID.
func (g *Generator) Next() string {
	var buf [40]byte
	return string(strconv.AppendUint(append(buf[:0], g.prefix...), g.n.Add(1), 36))
}

// Of returns r's own X-Request-ID when it is valid, and reports whether
// it took it; otherwise a new ID from g.
func (g *Generator) Of(r *http.Request) (id string, own bool) {
	if v := r.Header[Header]; len(v) > 0 && Valid(v[0]) {
		return v[0], true
	}
	return g.Next(), false
}
