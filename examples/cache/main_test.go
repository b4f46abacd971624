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
