package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out, nil); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"200 hello from upstream", "refused at accept", "400 firewall", "413 firewall", "429 firewall", "live reload"} {
		if !strings.Contains(s, want) {
			t.Fatalf("demo lacks %q:\n%s", want, s)
		}
	}
}

func TestSampleRulesParseAndBadInput(t *testing.T) {
	if _, err := loadRules("rules.conf"); err != nil {
		t.Fatalf("sample rules: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("policy allow\ndeny 10.0.0.0/99\n"), 0o644)
	err := run(context.Background(), []string{"-rules", bad, "-upstream", "http://127.0.0.1:1"}, &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad rules file: %v", err)
	}
	for _, args := range [][]string{{"-rules", "rules.conf"}, {"-rules", "rules.conf", "-upstream", "ftp://x"}, {"-rate", "0", "-rules", "rules.conf", "-upstream", "http://a"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, nil); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
