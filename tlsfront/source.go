package tlsfront

import "crypto/tls"

// ALPNACME is the ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737
// §6.2): a validation handshake offers it alone.
const ALPNACME = "acme-tls/1"

// Source supplies certificates a Front does not read from files, such as
// those package tlsfront/acme's Manager obtains over ACME.
//
// Implementations must be safe for concurrent use: Certificate runs in
// every handshake that no file certificate answers.
type Source interface {
	// Certificate returns the certificate to serve for name (lower case,
	// no trailing dot), or nil when the source has none for it. The
	// empty name asks for the source's default, served to clients
	// without SNI (or with a name nothing covers) when there are no file
	// certificates. It must not block on the network or on storage.
	Certificate(name string) *tls.Certificate
}

// ChallengeSource is an optional interface of a Source that answers
// TLS-ALPN-01 challenges (RFC 8737 §3): a handshake whose client offers
// the single ALPN protocol "acme-tls/1" and a server name gets the
// certificate ChallengeCertificate returns, negotiates "acme-tls/1" and
// nothing else, and fails when it returns an error (no challenge for
// that name). Other clients never negotiate "acme-tls/1".
// Implementations must be safe for concurrent use by multiple goroutines.
type ChallengeSource interface {
	ChallengeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error)
}

// challengeConfig returns the GetConfigForClient hook that sends
// validation handshakes (RFC 8737 §3: SNI and the single ALPN protocol
// "acme-tls/1") to cs, and every other one to the Front's settings.
func challengeConfig(cs ChallengeSource) func(*tls.ClientHelloInfo) (*tls.Config, error) {
	// RFC 8737 §4: TLS 1.2 or higher; a validation needs no resumption.
	acme := &tls.Config{
		MinVersion:             tls.VersionTLS12,
		MaxVersion:             tls.VersionTLS13,
		NextProtos:             []string{ALPNACME},
		SessionTicketsDisabled: true,
		GetCertificate:         cs.ChallengeCertificate,
	}
	return func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if hello.ServerName != "" && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == ALPNACME {
			return acme, nil
		}
		return nil, nil
	}
}
