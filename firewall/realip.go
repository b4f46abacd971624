package firewall

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gaissmai/bart"
	"golang.org/x/net/http/httpguts"
)

// TrustedProxy is a network of proxies in front of this server and the one
// header field they maintain: each such proxy appends the address of its
// own peer to Header, as nginx's $proxy_add_x_forwarded_for and RFC 7239
// §4 describe. It is what nginx's set_real_ip_from with real_ip_header
// and Caddy's trusted_proxies with client_ip_headers say, one header per
// proxy. A plain value, safe for concurrent use while no goroutine
// changes it.
type TrustedProxy struct {
	// Prefix holds the proxies' addresses (a host is a /32 or /128).
	Prefix netip.Prefix
	// Header is the field the proxies maintain. "Forwarded" is read as
	// RFC 7239 forwarded-elements and their for= node; any other field
	// ("X-Forwarded-For", "X-Real-IP", ...) as a comma-separated list
	// of addresses, each optionally with a port ("192.0.2.1:4711",
	// "[2001:db8::1]:443"). Required: a proxy that maintains no header
	// is not one whose word can be used.
	Header string
}

// String returns "PREFIX=HEADER", the form ParseTrustedProxy reads.
func (p TrustedProxy) String() string { return p.Prefix.String() + "=" + p.Header }

// maxHops bounds the elements (and field lines) of a forwarding header
// that a RealIP reads, and maxHeaderBytes their bytes, all field lines
// together. The header is read from the right, its last maxHeaderBytes
// bytes and maxHops elements: padding, or an open quoted-string, added on
// the left by a client does not hide the address its proxy appended. A
// walk that needs an element beyond the bounds stops at the last hop it
// identified.
const (
	maxHops        = 64
	maxHeaderBytes = 4096
)

// maxHeaders bounds the distinct headers one RealIP reads.
const maxHeaders = 4

// RealIP finds the address of the client behind trusted proxies. It is
// immutable once built and safe for concurrent use by multiple
// goroutines; a nil *RealIP trusts no proxy.
//
// The walk starts at the peer. While the current hop is a trusted proxy,
// the next element from the right of the header that proxy maintains is
// the hop before it (each proxy consumes one element of its own header,
// so chains mixing headers are read correctly). The first hop that is
// not a trusted proxy is the client; a client cannot forge it, because
// every element read was appended by a trusted proxy. Elements to its
// left, and every other header, are never read.
//
// When an element that must be read cannot be (missing, malformed, a
// quoted comma, "unknown" or an obfuscated identifier per RFC 7239 §6.3,
// a Forwarded element without for=, a chain going on past the bounds),
// the walk stops and the request is judged as coming from the last hop it
// identified: the nearest identifiable hop, a trusted proxy itself when
// nothing else, never an anonymous address.
type RealIP struct {
	proxies   []TrustedProxy
	table     bart.Table[uint8] // prefix -> index into headers
	headers   []string          // canonical field names
	forwarded []bool            // headers[i] is RFC 7239 Forwarded
}

// NewRealIP validates proxies and returns a RealIP trusting them; where
// two prefixes overlap, the longest decides. With no proxies it returns
// nil, which trusts no one: no header is ever read, the client is the
// peer. A forwarding header over 4096 bytes or 64 elements (or field
// lines) is not read at all: the request is judged as coming from the
// hop that sent it.
func NewRealIP(proxies []TrustedProxy) (*RealIP, error) {
	if len(proxies) == 0 {
		return nil, nil
	}
	ri := &RealIP{}
	seen := map[netip.Prefix]string{}
	for _, p := range proxies {
		if !p.Prefix.IsValid() {
			return nil, fmt.Errorf("%w: trusted proxy with an invalid prefix", ErrInvalidConfig)
		}
		if p.Header == "" || !httpguts.ValidHeaderFieldName(p.Header) {
			return nil, fmt.Errorf("%w: trusted proxy %s: header %q is not a field name (X-Forwarded-For, Forwarded, ...)", ErrInvalidConfig, p.Prefix, p.Header)
		}
		p.Prefix = normPrefix(p.Prefix)
		p.Header = http.CanonicalHeaderKey(p.Header)
		if prev, dup := seen[p.Prefix]; dup && prev != p.Header {
			return nil, fmt.Errorf("%w: trusted proxy %s maintains both %s and %s; a proxy maintains one header", ErrInvalidConfig, p.Prefix, prev, p.Header)
		}
		seen[p.Prefix] = p.Header
		i := indexOf(ri.headers, p.Header)
		if i < 0 {
			if len(ri.headers) == maxHeaders {
				return nil, fmt.Errorf("%w: more than %d distinct trusted-proxy headers", ErrInvalidConfig, maxHeaders)
			}
			i = len(ri.headers)
			ri.headers = append(ri.headers, p.Header)
			ri.forwarded = append(ri.forwarded, p.Header == "Forwarded")
		}
		ri.table.Insert(p.Prefix, uint8(i))
		ri.proxies = append(ri.proxies, p)
	}
	return ri, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// String says what is trusted, for start-up messages.
func (ri *RealIP) String() string {
	if ri == nil {
		return "no proxy trusted: the client is the peer, no forwarding header is read"
	}
	var b strings.Builder
	b.WriteString("trusted proxies: ")
	for i, p := range ri.proxies {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Prefix.String() + " maintains " + p.Header)
	}
	return b.String()
}

// ParseTrustedProxy reads "PREFIX[,PREFIX...]=HEADER" (a bare address is a
// host prefix), the form of command-line flags, e.g.
// "10.0.0.0/8,192.0.2.7=X-Forwarded-For".
func ParseTrustedProxy(s string) ([]TrustedProxy, error) {
	nets, header, ok := strings.Cut(s, "=")
	header = strings.TrimSpace(header)
	if !ok || header == "" {
		return nil, fmt.Errorf("%w: %q: want PREFIX[,PREFIX...]=HEADER, e.g. 10.0.0.0/8=X-Forwarded-For", ErrInvalidConfig, s)
	}
	var out []TrustedProxy
	for _, n := range strings.Split(nets, ",") {
		p, err := parsePrefix(strings.TrimSpace(n))
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrInvalidConfig, s, err)
		}
		out = append(out, TrustedProxy{Prefix: p, Header: header})
	}
	if _, err := NewRealIP(out); err != nil {
		return nil, err
	}
	return out, nil
}

// ClientAddr returns the address r is judged by: the client behind the
// trusted proxies (see RealIP). complete is false when the walk stopped at
// a hop it could not read past, so addr is the last hop identified; addr
// is invalid only when r.RemoteAddr is not an IP address (then no header
// is read either).
func (ri *RealIP) ClientAddr(r *http.Request) (addr netip.Addr, complete bool) {
	peer, ok := remoteAddr(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	return ri.walk(peer, r.Header)
}

// remoteAddr reads an http.Request's RemoteAddr ("ip:port", or a bare IP
// as some servers set it).
func remoteAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr())
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return normalize(a)
}

// span is one list element: lines[line][lo:hi].
type span struct{ line, lo, hi int32 }

// walk goes from the peer cur to the client; see RealIP.
func (ri *RealIP) walk(cur netip.Addr, h http.Header) (netip.Addr, bool) {
	if ri == nil {
		return cur, true
	}
	var (
		cursor [maxHeaders]int // elements consumed per header, from the right
		spans  [maxHops]span
		lines  []string
		loaded = -1
		n      int
	)
	for step := 0; ; step++ {
		hi, trusted := ri.table.Lookup(cur)
		if !trusted {
			return cur, true
		}
		if step == maxHops {
			return cur, false
		}
		if int(hi) != loaded {
			lines = h[ri.headers[hi]]
			n = splitList(lines, ri.forwarded[hi], maxHeaderBytes, &spans)
			loaded = int(hi)
		}
		k := n - 1 - cursor[hi]
		if k < 0 {
			return cur, false // nothing before this proxy
		}
		cursor[hi]++
		s := spans[k]
		elem := lines[s.line][s.lo:s.hi]
		var a netip.Addr
		var ok bool
		if ri.forwarded[hi] {
			a, ok = forwardedFor(elem)
		} else {
			a, ok = parseNode(elem)
		}
		if !ok {
			return cur, false
		}
		cur = a
	}
}

// splitList records in out, left to right, the rightmost non-empty
// elements of a list-valued field (RFC 9110 §5.6.1: field lines joined by
// commas, empty elements and the optional whitespace around elements
// ignored): at most maxHops of them, found within the last maxBytes bytes
// of its field lines (each line break counted as a byte). With quoted, a
// comma inside a quoted-string (RFC 9110 §5.6.4) does not separate
// elements. It returns how many it recorded.
//
// The field is read from the right because a trusted proxy appends on the
// right: what lies further left is what the client wrote first, and a
// client that pads the field, or leaves a quoted-string open, must not
// push the element its proxy appended out of reach (reading nothing then
// judged the client as the proxy, bypassing a deny list). The scan stops
// where it cannot go on unambiguously (the byte or element bound, a
// quoted-string with no opening quote on its line, a quoted-pair, which
// read backwards is ambiguous); the element it stopped in is left out,
// so a walk that needs it stops there, incomplete.
func splitList(lines []string, quoted bool, maxBytes int, out *[maxHops]span) int {
	var rev [maxHops]span
	n, budget := 0, maxBytes
scan:
	for li := len(lines) - 1; li >= 0; li-- {
		line := lines[li]
		end := len(line)
		for i := len(line) - 1; i >= -1; i-- {
			if i >= 0 && line[i] != ',' {
				if budget == 0 {
					break scan
				}
				budget--
				if quoted && line[i] == '"' {
					// The end of a quoted-string: find its start.
					j := i - 1
					for ; j >= 0 && line[j] != '"'; j-- {
						if line[j] == '\\' || budget == 0 {
							break scan
						}
						budget--
					}
					if j < 0 || (j > 0 && line[j-1] == '\\') || budget == 0 {
						break scan
					}
					budget--
					i = j
				}
				continue
			}
			lo, hi := i+1, end
			for lo < hi && (line[lo] == ' ' || line[lo] == '\t') {
				lo++
			}
			for hi > lo && (line[hi-1] == ' ' || line[hi-1] == '\t') {
				hi--
			}
			if lo < hi {
				rev[n] = span{int32(li), int32(lo), int32(hi)}
				n++
				if n == maxHops {
					break scan
				}
			}
			end = i
			if budget == 0 {
				break scan
			}
			budget-- // the comma, or the line break
		}
	}
	for i := 0; i < n; i++ {
		out[i] = rev[n-1-i]
	}
	return n
}

// forwardedFor reads the for= node of one RFC 7239 forwarded-element
// (§4: pairs separated by ";", token "=" token-or-quoted-string, each
// parameter at most once). ok is false when the element is malformed,
// has no for=, or its node is not an address (§6: "unknown", an
// obfuscated identifier).
func forwardedFor(elem string) (netip.Addr, bool) {
	var node string
	found := false
	for len(elem) > 0 {
		// One pair, up to a ";" outside a quoted-string.
		i := 0
		for i < len(elem) && elem[i] != '=' && elem[i] != ';' {
			i++
		}
		key := trimOWS(elem[:i])
		if i == len(elem) || elem[i] == ';' {
			if key != "" {
				return netip.Addr{}, false // a pair without "="
			}
			if i < len(elem) {
				i++
			}
			elem = elem[i:]
			continue
		}
		if !isToken(key) {
			return netip.Addr{}, false
		}
		rest := elem[i+1:]
		var val string
		var ok bool
		val, rest, ok = forwardedValue(rest)
		if !ok {
			return netip.Addr{}, false
		}
		rest = trimOWS(rest)
		if rest != "" && rest[0] != ';' {
			return netip.Addr{}, false
		}
		if strings.EqualFold(key, "for") {
			if found {
				return netip.Addr{}, false // §4: a parameter at most once
			}
			found, node = true, val
		}
		if rest != "" {
			rest = rest[1:]
		}
		elem = rest
	}
	if !found {
		return netip.Addr{}, false
	}
	return parseNode(node)
}

// forwardedValue reads a token or a quoted-string at the start of s and
// returns its value (quoted-pairs undone only when it could still be an
// address: addresses hold no backslash) and what follows.
func forwardedValue(s string) (val, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	if s[0] != '"' {
		i := 0
		for i < len(s) && httpguts.IsTokenRune(rune(s[i])) {
			i++
		}
		if i == 0 {
			return "", "", false
		}
		return s[:i], s[i:], true
	}
	var buf [64]byte // an address is shorter; a longer value is not one
	n, sawEscape, escaped := 0, false, false
	for i := 1; i < len(s); i++ {
		c := s[i]
		if escaped {
			escaped = false
		} else if c == '"' {
			switch {
			case !sawEscape:
				return s[1:i], s[i+1:], true
			case n > len(buf):
				return "", s[i+1:], true // too long: no address
			}
			return string(buf[:n]), s[i+1:], true
		} else if c == '\\' {
			escaped, sawEscape = true, true
			continue
		}
		if !validQuoted(c) {
			return "", "", false
		}
		if n < len(buf) {
			buf[n] = c
		}
		n++
	}
	return "", "", false // unterminated
}

// validQuoted reports whether c may stand in a quoted-string (qdtext or
// the second byte of a quoted-pair, RFC 9110 §5.6.4).
func validQuoted(c byte) bool { return c == '\t' || c >= 0x20 && c != 0x7f }

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }

// parseNode reads one hop: an IPv4 address, an IPv6 address bare or in
// brackets, either with an optional port (RFC 7239 §6 node, which also
// allows an obfuscated port "_x"). "unknown" and obfuscated identifiers
// ("_x", §6.3) are not addresses: ok is false.
func parseNode(s string) (netip.Addr, bool) {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return netip.Addr{}, false
			}
			port = port[1:]
			if port == "" {
				return netip.Addr{}, false
			}
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		if port != "" && !validPort(port) {
			return netip.Addr{}, false
		}
		return normalize(a)
	}
	if i := strings.IndexByte(s, ':'); i >= 0 && strings.LastIndexByte(s, ':') == i {
		host, port = s[:i], s[i+1:] // IPv4:port; two or more colons is bare IPv6
		if !validPort(port) {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || (port != "" && !a.Is4()) {
		return netip.Addr{}, false
	}
	return normalize(a)
}

// validPort accepts 1*5DIGIT up to 65535, or an obfuscated port
// ("_" 1*(ALPHA / DIGIT / "." / "_" / "-"), RFC 7239 §6.3).
func validPort(p string) bool {
	if p == "" {
		return false
	}
	if p[0] == '_' {
		if len(p) == 1 {
			return false
		}
		for i := 1; i < len(p); i++ {
			c := p[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
	if len(p) > 5 {
		return false
	}
	v := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		v = v*10 + int(p[i]-'0')
	}
	return v <= 65535
}
