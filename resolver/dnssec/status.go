package dnssec

import "github.com/miekg/dns"

// Status is the outcome of validation (RFC 4033 §5, RFC 4035 §4.3).
type Status uint8

const (
	// Indeterminate: no trust anchor covers the data, so nothing can be
	// said (RFC 4035 §4.3). The zero value.
	Indeterminate Status = iota
	// Insecure: the data is proven to lie below an unsigned delegation,
	// or is signed only with algorithms or digests not implemented.
	Insecure
	// Bogus: a signature or a proof that should be there is wrong or
	// missing.
	Bogus
	// Secure: every RRset verified through a chain from a trust anchor.
	Secure
)

func (s Status) String() string {
	switch s {
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	case Secure:
		return "secure"
	}
	return "indeterminate"
}

// strength orders statuses for Weakest: bogus < indeterminate < insecure
// < secure.
func (s Status) strength() int {
	switch s {
	case Bogus:
		return 0
	case Indeterminate:
		return 1
	case Insecure:
		return 2
	}
	return 3
}

// Weakest returns the weaker of a and b: a CNAME chain is as secure as
// its weakest link.
func Weakest(a, b Status) Status {
	if b.strength() < a.strength() {
		return b
	}
	return a
}

// Result is the outcome of one validation.
// A plain value, safe for concurrent use while no goroutine changes it.
type Result struct {
	Status Status
	// EDE is the Extended DNS Error info code (RFC 8914 §4) that says
	// why a result is Bogus (or why it is Insecure, for an unsupported
	// algorithm or digest, or NSEC3 iterations above the limit). Zero
	// (Other) with an empty Reason means nothing to say.
	EDE uint16
	// Reason is a short text for the EDE's EXTRA-TEXT.
	Reason string
	// Work counts what the validation cost.
	Work Work
	// NSEC is, for a Secure negative answer (NXDOMAIN or NODATA), the NSEC
	// records of its authority section whose signatures verified with
	// the keys of Zone; nothing else of the response is in it. They may
	// serve later questions (RFC 8198 aggressive use).
	NSEC []*dns.NSEC
	Zone string
	// Denied is, for a Secure negative answer, the name its proof is
	// for (where the answer's CNAME chain ends), in canonical form.
	Denied string
	// Wildcards is, for a Secure answer, its RRsets that are wildcard
	// expansions proven by NSEC (RFC 4035 §5.3.4), each with the NSEC
	// whose signature verified and that proves no closer match: the
	// wildcard RRset and that NSEC may answer later questions for other
	// names below the wildcard (RFC 8198 §5.3).
	Wildcards []Expansion
}

// Expansion is a wildcard expansion of a validated answer (RFC 4035
// §5.3.4) and its NSEC proof (Result.Wildcards).
// A plain value, safe for concurrent use while no goroutine changes it.
type Expansion struct {
	Name    string    // the owner of the expanded RRset, in canonical form
	Type    uint16    // its type
	Closest string    // the closest encloser: the wildcard is "*."+Closest
	Zone    string    // the signer of the RRset and of NSEC
	NSEC    *dns.NSEC // the verified NSEC covering Name (the response's own record)
}

// Work counts the expensive operations of a validation (Config limits).
// A plain value, safe for concurrent use while no goroutine changes it.
type Work struct {
	Verifications int // RRSIG verifications (public-key operations)
	Hashes        int // NSEC3 name hashes
	Fetches       int // DS and DNSKEY queries through the Fetcher
}

// EDNSOption returns the result as an RFC 8914 option, or nil when it
// has nothing to say.
func (r Result) EDNSOption() *dns.EDNS0_EDE {
	if r.EDE == 0 && r.Reason == "" {
		return nil
	}
	return &dns.EDNS0_EDE{InfoCode: r.EDE, ExtraText: r.Reason}
}

func bogus(ede uint16, reason string) Result {
	return Result{Status: Bogus, EDE: ede, Reason: reason}
}

func insecure(ede uint16, reason string) Result {
	return Result{Status: Insecure, EDE: ede, Reason: reason}
}
