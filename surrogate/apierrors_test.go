package surrogate

import (
	"context"
	"errors"
	"testing"
)

// keyOnlyTarget purges by key but cannot clear everything.
type keyOnlyTarget struct{}

func (keyOnlyTarget) Delete(string) bool    { return false }
func (keyOnlyTarget) MarkStale(string) bool { return false }

func TestPurgerErrorsAreSentinels(t *testing.T) {
	if _, err := NewPurger(PurgerConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewPurger without Index and Target: %v, want ErrInvalidConfig", err)
	}
	p, err := NewPurger(PurgerConfig{Index: &Index{}, Target: keyOnlyTarget{}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.PurgeAll(context.Background(), Hard); !errors.Is(err, ErrCannotPurgeAll) {
		t.Errorf("PurgeAll on a Target without Clear: %v, want ErrCannotPurgeAll", err)
	}
}

// RFC 9110 §5.6.4: a backslash in a quoted string escapes the next
// character, so an escaped quote does not end the string and the comma
// after it is not a list separator.
func TestParseControlQuotedPairRFC9110Section5_6_4(t *testing.T) {
	c, ok := ParseControl([]string{`content="a\",b", max-age=60`}, "")
	if !ok || c.MaxAge != 60 {
		t.Fatalf("ParseControl = %+v, %v; want max-age 60 after a quoted string holding an escaped quote", c, ok)
	}
}
