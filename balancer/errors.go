package balancer

import (
	"errors"

	"github.com/edgekit/edgekit/internal/blame"
	"github.com/edgekit/edgekit/internal/h1"
)

var (
	// ErrNoBackend reports a pick from a pool with no backend to offer.
	ErrNoBackend = errors.New("balancer: no backend available")
	// ErrInvalidConfig reports a Config or Backend that cannot be used.
	ErrInvalidConfig = errors.New("balancer: invalid config")
	// ErrUnknownBackend reports an ID that is not in the pool.
	ErrUnknownBackend = errors.New("balancer: unknown backend")
	// ErrUnknownPolicy reports a policy name PolicyByName does not know.
	ErrUnknownPolicy = errors.New("balancer: unknown policy")
)

// Errors of edgekit's own proxy transport (the default Transport of
// ProxyConfig and of origin.Config) that callers may meet: in DoneInfo.Err,
// and wrapped in what origin.Pool.RoundTrip returns. They are the
// transport's own values, declared once in an internal package and named
// here (package origin and package edge build on balancer), so errors.Is
// and errors.As match them under these names.
var (
	// ErrResponseHeaderTooLarge reports a backend's response head longer
	// than the transport's limit (1 MiB, http.Transport's default).
	ErrResponseHeaderTooLarge = h1.ErrHeaderTooLarge
	// ErrUnexpectedUpgrade reports a backend that answered 101 (Switching
	// Protocols) to a request that asked for no upgrade.
	ErrUnexpectedUpgrade = h1.ErrUnexpectedUpgrade
	// ErrTooMany1xx reports a backend that sent more informational (1xx)
	// responses before its final one than the transport accepts.
	ErrTooMany1xx = h1.ErrTooMany1xx
)

// NoResponseError is a failure on a fresh connection before the backend
// sent a single byte of its response (it closed or reset the connection,
// say because it was killed). Err is the connection's error. The request
// was idempotent, so a caller may send it again, to another backend (Proxy
// does, within its Retries). Match it with errors.As.
// An error value, read-only once returned: safe for concurrent use.
type NoResponseError = h1.NoResponseError

// ClientError is a failed exchange whose fault is the client's, not the
// backend's: the client went away or cancelled, its request body could
// not be read (shorter than its Content-Length, a client that left
// mid-upload), or its request could not be sent at all (a header field a
// transport refuses). Err is the underlying error. Such a failure does not
// count against a backend, is not retried, and is answered 400 (if at
// all), never 502. Match it with errors.As.
// An error value, read-only once returned: safe for concurrent use.
type ClientError = blame.ClientError
