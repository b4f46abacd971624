package dnsproto

import (
	"strings"

	"github.com/miekg/dns"
)

// CanonicalCompare orders two names as RFC 4034 §6.1 does (the order of
// NSEC chains): label by label from the root, each compared as lower-case
// octets (escapes such as \046 and \. decoded), a name before the names
// below it.
func CanonicalCompare(a, b string) int {
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
