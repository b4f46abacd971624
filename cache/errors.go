package cache

import (
	"errors"

	"github.com/edgekit/edgekit/internal/store"
)

var (
	// ErrInvalidConfig reports a Config that New cannot honour.
	ErrInvalidConfig = errors.New("cache: invalid config")
	// ErrInvalidURL reports a URL without a host given to URLKey.
	ErrInvalidURL = errors.New("cache: URL has no host")
	// ErrClosed reports a fetch that a closed Engine no longer starts
	// for more than its own client.
	ErrClosed = errors.New("cache: engine closed")
	// ErrTooLarge is the store's error for an entry above its size limit.
	ErrTooLarge = store.ErrTooLarge
)
