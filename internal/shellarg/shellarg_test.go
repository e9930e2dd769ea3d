package shellarg

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// The real check: sh reads each quoted word back as exactly the input.
func roundTrip(t *testing.T, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", "printf %s "+Quote(s)).Output()
	if err != nil {
		t.Fatalf("sh -c printf %s: %v", Quote(s), err)
	}
	if string(out) != s {
		t.Fatalf("Quote(%q) = %s, sh read back %q", s, Quote(s), out)
	}
}

func TestQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "a b", "it's", "$(rm -rf /)", "`x`", "a\nb", "'", "''", `\`, "-n", "*", "~", "a;b|c&d", "kube-controller-manager.service", "x=y"} {
		t.Run(s, func(t *testing.T) { roundTrip(t, s) })
	}
}

func TestJoin(t *testing.T) {
	if got, want := Join("systemctl", "show", "a b", "it's"), `systemctl show 'a b' 'it'\''s'`; got != want {
		t.Fatalf("Join = %s, want %s", got, want)
	}
}

func FuzzQuote(f *testing.F) {
	f.Add("it's a $test")
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range s {
			if r == 0 {
				return // sh cannot take NUL in an argument
			}
		}
		roundTrip(t, s)
	})
}
