package redisstorage

import "errors"

// Errors callers can match with errors.Is.
var (
	// ErrInvalidConfig reports a Config New cannot use.
	ErrInvalidConfig = errors.New("redisstorage: invalid config")
	// ErrInvalidKey reports an empty key where one is needed.
	ErrInvalidKey = errors.New("redisstorage: invalid key")
	// ErrFenced rejects a write made under a lock that another holder
	// has taken since (its fencing token is older than the lock's
	// latest).
	ErrFenced = errors.New("redisstorage: write fenced off: the lock was taken by another holder")
	// ErrLockLost reports a lock this Storage does not hold (any more):
	// it expired, perhaps to another holder, or was never taken.
	ErrLockLost = errors.New("redisstorage: lock not held")
	// ErrClosed reports a lock asked of a closed Storage.
	ErrClosed = errors.New("redisstorage: closed")
)
