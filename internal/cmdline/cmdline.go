// Package cmdline is the command-line behaviour the example programs
// share: flags parsed without the flag package printing anything itself,
// and one way of saying how a command ended (-h prints the usage and
// exits 0; a bad command line prints its error once, then the usage, and
// exits 2; a failure prints one line and exits 2).
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// UsageError is a command-line error, with the usage to print after it.
// A plain value, safe for concurrent use while no goroutine changes it.
type UsageError struct {
	Err   error
	Usage string
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Parse parses args into fs; the flag package prints nothing itself, so
// that Report prints each error once. A parse error (flag.ErrHelp for -h)
// is returned as a *UsageError carrying fs's usage.
func Parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if err == nil {
		return nil
	}
	var usage strings.Builder
	fs.SetOutput(&usage)
	fs.Usage()
	return &UsageError{err, usage.String()}
}

// Report says on stderr how the command name ended with err and returns
// its exit code: 0 for nil and for -h (after the usage), 2 for a
// *UsageError (its error, then the usage) and for any other error (one
// line, "name: ..." without a repeated "name: " or any of trim's
// prefixes).
func Report(stderr io.Writer, name string, err error, trim ...string) int {
	var ue *UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue) && errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stderr, ue.Usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %v\n%s", name, ue.Err, ue.Usage)
		return 2
	}
	msg := strings.TrimPrefix(err.Error(), name+": ")
	for _, p := range trim {
		msg = strings.TrimPrefix(msg, p)
	}
	fmt.Fprintln(stderr, name+":", msg)
	return 2
}
