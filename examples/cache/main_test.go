package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

var column = regexp.MustCompile(` \d{3}  (\S+) +age=`)

func TestDemoWalkThrough(t *testing.T) {
	var out bytes.Buffer
	if err := run(nil, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	var got []string
	for _, l := range lines {
		if strings.HasPrefix(l, "GET ") {
			// "GET <label> <status>  <X-Cache> age=..."
			m := column.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("unexpected line %q", l)
			}
			got = append(got, m[1])
		}
	}
	want := []string{"MISS", "HIT", "REVALIDATED", "HIT", "REVALIDATED", "MISS", "STALE", "HIT", "MISS", "STALE"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("X-Cache sequence %v, want %v\n%s", got, want, out.String())
	}
	if !strings.Contains(out.String(), `"/news version 1"`) {
		t.Fatalf("background revalidation did not store the new version:\n%s", out.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-n", "0", "-url", "http://x"}, {"extra"}, {"-nope"}} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestCommandLine: -h prints the usage once to stderr and exits 0; a bad
// command line prints its error once, naming the flag, and exits 2.
func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		want     string
		wantOnce string
	}{
		{[]string{"-h"}, 0, "-wait", "Usage of cache"},
		{[]string{"-nope"}, 2, "Usage of cache", "flag provided but not defined: -nope"},
		{[]string{"-url", "http://127.0.0.1:1/", "-wait", "0"}, 2, "", "-wait 0s: must be positive"},
		{[]string{"-max-bytes", "1"}, 2, "", "-max-bytes 1: too small"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli(c.args, &stdout, &stderr)
		s := stderr.String()
		if code != c.code || !strings.Contains(s, c.want) || strings.Count(s, c.wantOnce) != 1 ||
			strings.Contains(s, "help requested") || strings.Contains(s, "cache: cache:") || strings.Contains(s, "store:") || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s", c.args, code, stdout.String(), s)
		}
	}
}
