package surrogate

import "errors"

var (
	// ErrTooManyKeys reports a response carrying more keys than
	// Config.MaxKeys; the first MaxKeys are still returned.
	ErrTooManyKeys = errors.New("surrogate: too many keys")
	// ErrKeyTooLong reports a key longer than Config.MaxKeyLen; it is
	// skipped.
	ErrKeyTooLong = errors.New("surrogate: key too long")
	// ErrBusClosed reports a publish or subscribe on a closed Bus.
	ErrBusClosed = errors.New("surrogate: bus closed")
	// ErrInvalidConfig reports a PurgerConfig that cannot be used.
	ErrInvalidConfig = errors.New("surrogate: invalid config")
	// ErrCannotPurgeAll reports a PurgeAll on a Target that does not
	// implement Clearer.
	ErrCannotPurgeAll = errors.New("surrogate: target cannot purge all")
	// ErrNoKeys reports a purge request naming no key.
	ErrNoKeys = errors.New("surrogate: no keys to purge")
)
