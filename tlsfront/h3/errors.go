package h3

import "errors"

// ErrInvalidConfig is returned by New for a Config it cannot serve with.
var ErrInvalidConfig = errors.New("h3: invalid config")
