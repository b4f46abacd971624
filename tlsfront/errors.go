package tlsfront

import "errors"

// Errors callers can match with errors.Is.
var (
	// ErrInvalidConfig reports a Config New cannot use.
	ErrInvalidConfig = errors.New("tlsfront: invalid config")
	// ErrLoad reports a certificate pair that could not be loaded (its
	// files unreadable, unparsable, mismatched, or naming no host). The
	// pair's previous certificate, if any, stays in service.
	ErrLoad = errors.New("tlsfront: certificate not loaded")
	// ErrNoCertificate fails a handshake when there is no certificate to
	// serve: no file certificate, and the Source has none (yet) for the
	// name nor a default.
	ErrNoCertificate = errors.New("tlsfront: no certificate for this server name")
)
