package balancer

import "errors"

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
