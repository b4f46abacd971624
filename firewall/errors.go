package firewall

import (
	"errors"
	"fmt"
)

var (
	// ErrBadRule reports a rule that cannot be compiled.
	ErrBadRule = errors.New("firewall: bad rule")
	// ErrInvalidConfig reports a Config that cannot be used.
	ErrInvalidConfig = errors.New("firewall: invalid config")
)

// ParseError reports a rule-file error with its line; errors.Is(err,
// ErrBadRule) holds. Safe for concurrent use while no goroutine changes it.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("firewall: line %d: %s", e.Line, e.Msg) }

// Is makes errors.Is(err, ErrBadRule) true.
func (e *ParseError) Is(target error) bool { return target == ErrBadRule }
