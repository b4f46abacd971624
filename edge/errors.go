package edge

import (
	"errors"

	"github.com/edgekit/edgekit/cache"
)

var (
	// ErrInvalidConfig reports a Config that New cannot honour.
	ErrInvalidConfig = errors.New("edge: invalid config")
	// ErrPurgeUnsupported reports a purge on a node with a Cache of its
	// own and no Config.PurgeTarget.
	ErrPurgeUnsupported = errors.New("edge: cache does not support purging")
	// ErrBadPurge reports a purge request naming nothing to purge, or an
	// unparsable URL.
	ErrBadPurge = errors.New("edge: bad purge request")
	// ErrClosed reports a fetch that a closed Node no longer starts (the
	// engine's error).
	ErrClosed = cache.ErrClosed
)
