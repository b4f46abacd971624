package httpfront

import "errors"

// ErrInvalidConfig reports a Server that cannot serve (no Handler).
var ErrInvalidConfig = errors.New("httpfront: invalid config")
