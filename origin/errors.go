package origin

import "errors"

var (
	// ErrNoOrigins reports a Config without origins.
	ErrNoOrigins = errors.New("origin: no origins configured")
	// ErrInvalidConfig reports a Config that New cannot honour.
	ErrInvalidConfig = errors.New("origin: invalid config")
	// ErrAllFailed reports that every attempt failed; it wraps the last
	// error. Edges map it to 502 (or 504 when the last error was a
	// timeout).
	ErrAllFailed = errors.New("origin: all origins failed")
)
