package origin

import "errors"

var (
	// ErrNoOrigins reports a Config without origins.
	ErrNoOrigins = errors.New("origin: no origins configured")
	// ErrInvalidConfig reports a Config that New cannot honour.
	ErrInvalidConfig = errors.New("origin: invalid config")
	// ErrAllFailed reports that every attempt failed; it wraps the last
	// error, which the default transport's failures name in package
	// balancer (balancer.NoResponseError, balancer.ErrResponseHeaderTooLarge,
	// balancer.ErrUnexpectedUpgrade, balancer.ErrTooMany1xx). Edges map it
	// to 502 (or 504 when the last error was a timeout). A failure that is
	// the client's is returned as a *balancer.ClientError instead, unwrapped.
	ErrAllFailed = errors.New("origin: all origins failed")
)
