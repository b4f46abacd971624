package tlsfront

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ClientTLS configures the TLS client side toward a backend or origin:
// which authorities to trust and which certificate to present (mTLS).
// The zero value verifies the server against the system's roots and
// presents no certificate.
// A plain value, safe for concurrent use while no goroutine changes it.
type ClientTLS struct {
	// CAFile holds PEM certificates of the authorities trusted to sign
	// the server's certificate, instead of the system's. Empty means the
	// system's roots.
	CAFile string
	// CertFile and KeyFile hold the client certificate and key presented
	// to servers that ask for one. Both or neither.
	CertFile, KeyFile string
	// ServerName is the name verified in the server's certificate and sent
	// in SNI. Empty means the host of the URL dialled.
	ServerName string
	// InsecureSkipVerify turns verification of the server's certificate
	// off. It exists for tests against throw-away servers; never set it
	// in front of real traffic.
	InsecureSkipVerify bool
}

// Config returns the *tls.Config c describes: TLS 1.2 at least, the
// server verified unless InsecureSkipVerify. Files are read once, now.
func (c ClientTLS) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %w", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrInvalidConfig, c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, fmt.Errorf("%w: client certificate needs both CertFile and KeyFile", ErrInvalidConfig)
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate: %w", ErrInvalidConfig, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
