package h3

import "errors"

// ErrInvalidConfig is returned by New for a Config it cannot serve with.
var ErrInvalidConfig = errors.New("h3: invalid config")

// ErrBodyTimeout is wrapped by the error of a request body's Read when
// the client sent nothing for Config.BodyIdleTimeout.
var ErrBodyTimeout = errors.New("h3: request body idle timeout")
