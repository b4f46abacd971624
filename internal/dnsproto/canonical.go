package dnsproto

import (
	"strings"

	"github.com/miekg/dns"
)

// CanonicalCompare orders two names as RFC 4034 §6.1 does (the order of
// NSEC chains): label by label from the root, each compared as lower-case
// octets (escapes such as \046 and \. decoded), a name before the names
// below it.
//
// Names without escapes or empty labels (nearly all) are compared in
// place, without allocating: the NSEC proof checks of a validating
// resolver make dozens of comparisons per answer.
func CanonicalCompare(a, b string) int {
	if plainName(a) && plainName(b) {
		return compareInPlace(a, b)
	}
	return compareSplit(a, b)
}

// plainName reports whether name has no escape and no empty label but
// the root's, so that its labels are the runs of octets between dots.
func plainName(name string) bool {
	if name == "." || name == "" {
		return true
	}
	return name[0] != '.' && !strings.Contains(name, "..") && strings.IndexByte(name, '\\') < 0
}

// compareInPlace is CanonicalCompare for plain names (plainName).
func compareInPlace(a, b string) int {
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	for {
		switch {
		case a == "" && b == "":
			return 0
		case a == "":
			return -1
		case b == "":
			return 1
		}
		var la, lb string
		if i := strings.LastIndexByte(a, '.'); i >= 0 {
			a, la = a[:i], a[i+1:]
		} else {
			a, la = "", a
		}
		if i := strings.LastIndexByte(b, '.'); i >= 0 {
			b, lb = b[:i], b[i+1:]
		} else {
			b, lb = "", b
		}
		if c := compareLower(la, lb); c != 0 {
			return c
		}
	}
}

// compareLower compares two labels as strings.Compare compares them with
// their ASCII upper case lowered (RFC 4034 §6.2).
func compareLower(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lowerASCII(a[i]), lowerASCII(b[i])
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// compareSplit is CanonicalCompare for any names: split into labels,
// escapes decoded.
func compareSplit(a, b string) int {
	la := dns.SplitDomainName(a)
	lb := dns.SplitDomainName(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 || j >= 0; i, j = i-1, j-1 {
		switch {
		case i < 0:
			return -1
		case j < 0:
			return 1
		}
		if c := strings.Compare(canonicalLabel(la[i]), canonicalLabel(lb[j])); c != 0 {
			return c
		}
	}
	return 0
}

// canonicalLabel returns a label's octets, escapes decoded and ASCII
// upper case lowered (RFC 4034 §6.2: only US-ASCII letters fold).
func canonicalLabel(label string) string {
	l := unescape(label)
	for i := 0; i < len(l); i++ {
		if c := l[i]; c >= 'A' && c <= 'Z' {
			b := []byte(l)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return l
}

// unescape decodes the presentation escapes of a label (RFC 1035 §5.1):
// \DDD is the octet DDD, \X is X.
func unescape(label string) string {
	if !strings.Contains(label, "\\") {
		return label
	}
	b := make([]byte, 0, len(label))
	for i := 0; i < len(label); i++ {
		c := label[i]
		if c != '\\' || i+1 >= len(label) {
			b = append(b, c)
			continue
		}
		if i+3 < len(label) && isDigit(label[i+1]) && isDigit(label[i+2]) && isDigit(label[i+3]) {
			b = append(b, byte(int(label[i+1]-'0')*100+int(label[i+2]-'0')*10+int(label[i+3]-'0')))
			i += 3
			continue
		}
		b = append(b, label[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
