package resolver

import "errors"

var (
	// ErrInvalidConfig reports a Config that New cannot honour.
	ErrInvalidConfig = errors.New("resolver: invalid config")
	// ErrBadName reports a name that is not a valid host name, even after
	// IDNA conversion.
	ErrBadName = errors.New("resolver: invalid name")
	// ErrMismatch reports a response that does not answer the query sent.
	ErrMismatch = errors.New("resolver: response does not match the query")
)
