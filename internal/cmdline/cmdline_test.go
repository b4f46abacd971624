package cmdline

import (
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestParseAndReport(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.Int("n", 1, "a number")
		return fs
	}
	for _, tc := range []struct {
		args []string
		err  error // used when args parse
		code int
		want []string
	}{
		{args: nil, code: 0},
		{args: []string{"-h"}, code: 0, want: []string{"-n int"}},
		{args: []string{"-n", "x"}, code: 2, want: []string{"x: invalid value", "-n int"}},
		{args: []string{"-nope"}, code: 2, want: []string{"x: flag provided but not defined: -nope", "-n int"}},
		{args: nil, err: errors.New("x: balancer: down"), code: 2, want: []string{"x: down\n"}},
	} {
		err := Parse(newFS(), tc.args)
		if err == nil {
			err = tc.err
		}
		var out strings.Builder
		if code := Report(&out, "x", err, "balancer: "); code != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, code, tc.code)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: %q lacks %q", tc.args, out.String(), w)
			}
		}
		if tc.code == 2 && strings.Count(out.String(), "x: ") != 1 {
			t.Errorf("%v: the error is not said exactly once: %q", tc.args, out.String())
		}
	}
}
