package cache

import (
	"strings"

	"golang.org/x/net/http/httpguts"
)

// sfMember is one member of a Structured Fields Dictionary (RFC 8941
// §3.2) as a targeted cache-control field uses it: its key and whether
// its value is a Boolean, an Integer or something else (a Decimal, String,
// Token, Byte Sequence or Inner List, none of which a cache directive
// takes). Parameters are parsed and dropped.
type sfMember struct {
	key  string
	kind sfKind
	b    bool  // kind sfBoolean
	n    int64 // kind sfInteger
}

type sfKind uint8

const (
	sfBoolean sfKind = iota
	sfInteger
	sfOther
)

// parseSFDictionary parses s as a Dictionary by the algorithm of RFC 8941
// §4.2.2, strictly: no space around "=", lowercase keys, Integers of at
// most 15 digits, no empty member or trailing comma. It reports false on
// any error, since §4.2 fails the whole field then. A key seen twice keeps
// its last value (§4.2.2 overwrites), and members are returned in the
// order of their first appearance.
func parseSFDictionary(s string) ([]sfMember, bool) {
	p := sfParser{s: strings.TrimLeft(s, " ")}
	p.s = strings.TrimRight(p.s, " ")
	var out []sfMember
	if p.s == "" {
		return out, true
	}
	for {
		key, ok := p.key()
		if !ok {
			return nil, false
		}
		m := sfMember{key: key, kind: sfBoolean, b: true}
		if p.take('=') {
			if p.peek() == '(' {
				if !p.innerList() {
					return nil, false
				}
				m.kind = sfOther
			} else if m, ok = p.bareItem(m); !ok {
				return nil, false
			}
		}
		if !p.params() {
			return nil, false
		}
		replaced := false
		for i := range out {
			if out[i].key == key {
				out[i], replaced = m, true
				break
			}
		}
		if !replaced {
			out = append(out, m)
		}
		p.ows()
		if p.i == len(p.s) {
			return out, true
		}
		if !p.take(',') {
			return nil, false
		}
		p.ows()
		if p.i == len(p.s) {
			return nil, false // a trailing comma
		}
	}
}

// sfParser walks a field value; i is the next byte to read.
type sfParser struct {
	s string
	i int
}

func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) take(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// ows skips optional whitespace (SP and HTAB) around a Dictionary's commas.
func (p *sfParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool   { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// key parses a key (§4.2.3.3): lcalpha or "*", then lcalpha, digits and
// "_-.*".
func (p *sfParser) key() (string, bool) {
	start := p.i
	if c := p.peek(); !isLCAlpha(c) && c != '*' {
		return "", false
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i], true
}

// params parses parameters (§4.2.3.2) and drops them.
func (p *sfParser) params() bool {
	for p.take(';') {
		for p.take(' ') {
		}
		if _, ok := p.key(); !ok {
			return false
		}
		if p.take('=') {
			if _, ok := p.bareItem(sfMember{}); !ok {
				return false
			}
		}
	}
	return true
}

// innerList parses an Inner List (§4.2.1.2), after its "(".
func (p *sfParser) innerList() bool {
	p.i++ // "("
	for p.i < len(p.s) {
		for p.take(' ') {
		}
		if p.take(')') {
			return p.params()
		}
		if _, ok := p.bareItem(sfMember{}); !ok || !p.params() {
			return false
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return false
		}
	}
	return false
}

// bareItem parses a Bare Item (§4.2.3.1) into m's kind and value.
func (p *sfParser) bareItem(m sfMember) (sfMember, bool) {
	c := p.peek()
	switch {
	case c == '-' || isDigit(c):
		return p.number(m)
	case c == '"':
		m.kind = sfOther
		return m, p.str()
	case c == '*' || isAlpha(c):
		// Token (§4.2.6): tchar, ":" and "/".
		p.i++
		for p.i < len(p.s) && (httpguts.IsTokenRune(rune(p.s[p.i])) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		m.kind = sfOther
		return m, true
	case c == ':':
		// Byte Sequence (§4.2.7): base64 between colons.
		p.i++
		for p.i < len(p.s) && p.s[p.i] != ':' {
			b := p.s[p.i]
			if !isAlpha(b) && !isDigit(b) && b != '+' && b != '/' && b != '=' {
				return m, false
			}
			p.i++
		}
		m.kind = sfOther
		return m, p.take(':')
	case c == '?':
		// Boolean (§4.2.8).
		p.i++
		switch p.peek() {
		case '0', '1':
			m.kind, m.b = sfBoolean, p.peek() == '1'
			p.i++
			return m, true
		}
		return m, false
	}
	return m, false
}

// number parses an Integer or Decimal (§4.2.4): at most 15 integer digits,
// or at most 12 before a "." and one to three after.
func (p *sfParser) number(m sfMember) (sfMember, bool) {
	neg := p.take('-')
	start := p.i
	var n int64
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		n = n*10 + int64(p.s[p.i]-'0')
		p.i++
		if p.i-start > 15 {
			return m, false
		}
	}
	digits := p.i - start
	if digits == 0 {
		return m, false
	}
	if !p.take('.') {
		if neg {
			n = -n
		}
		m.kind, m.n = sfInteger, n
		return m, true
	}
	if digits > 12 {
		return m, false
	}
	frac := p.i
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	if f := p.i - frac; f < 1 || f > 3 {
		return m, false
	}
	m.kind = sfOther
	return m, true
}

// str parses a String (§4.2.5): printable ASCII, with only \" and \\ as
// escapes.
func (p *sfParser) str() bool {
	p.i++ // the opening quote
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if n := p.peek(); n != '"' && n != '\\' {
				return false
			}
			p.i++
		case c == '"':
			return true
		case c < 0x20 || c > 0x7e:
			return false
		}
	}
	return false
}
