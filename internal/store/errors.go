package store

import (
	"errors"
	"fmt"
)

var (
	// ErrTooLarge reports an entry whose cost exceeds MaxEntryBytes.
	// Set returns it wrapped in a *TooLargeError.
	ErrTooLarge = errors.New("store: entry larger than MaxEntryBytes")
	// ErrInvalidConfig reports a Config that New cannot honour.
	ErrInvalidConfig = errors.New("store: invalid config")
)

// TooLargeError carries the sizes behind ErrTooLarge.
type TooLargeError struct {
	Cost, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("store: entry of %d bytes exceeds the %d-byte limit", e.Cost, e.Max)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }
