package acme

import "errors"

// Errors callers can match with errors.Is.
var (
	// ErrInvalidConfig reports a Config New cannot use.
	ErrInvalidConfig = errors.New("acme: invalid config")
	// ErrInvalidName reports a name Manage cannot order a certificate
	// for (not a DNS name of two labels or more, a wildcard, an IP
	// address); CheckName returns it.
	ErrInvalidName = errors.New("acme: invalid name")
	// ErrClosed reports a call on a closed Manager.
	ErrClosed = errors.New("acme: manager closed")
	// ErrNoChallenge fails a TLS-ALPN-01 handshake for a name that is
	// not managed or when TLS-ALPN-01 is off.
	ErrNoChallenge = errors.New("acme: no challenge for this name")
)
