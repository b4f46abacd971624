package redisbus

import "errors"

var (
	// ErrInvalidConfig reports a Config that cannot be used.
	ErrInvalidConfig = errors.New("redisbus: invalid config")
	// ErrSubscribed reports a second Subscribe on a Bus that has one: a
	// Bus is one node of the fleet.
	ErrSubscribed = errors.New("redisbus: already subscribed")
	// ErrMalformed reports a stream entry that is not a purge this
	// package wrote; readers log it and skip it.
	ErrMalformed = errors.New("redisbus: malformed entry")
	// ErrNotReplicated reports a purge appended to the log that fewer
	// replicas than Config.WaitReplicas acknowledged in time: a failover
	// now could lose it. Publishing it again is harmless.
	ErrNotReplicated = errors.New("redisbus: purge not replicated")
)
