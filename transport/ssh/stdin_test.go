package ssh_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"kplay/transport"
	kssh "kplay/transport/ssh"
)

// A command may end without reading its standard input: its exit status
// is the result, not an error about the input it did not take.
func TestCommandIgnoresStdin(t *testing.T) {
	e := setup(t, 1)
	c := dial(t, kssh.NewDialer(e.config()), spec(e.c.Servers[0]))
	big := bytes.Repeat([]byte("x"), 8<<20) // more than the channel's window
	for _, tc := range []struct {
		cmd   string
		stdin []byte
		rc    int
	}{
		{"exit 0", big, 0},
		{"exit 3", big, 3},
		{"echo out; exit 0", []byte("x"), 0},
		{"head -c 10 >/dev/null; exit 4", big, 4},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			for range 5 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				r, err := c.Run(ctx, transport.Command{Cmd: tc.cmd, Stdin: tc.stdin})
				cancel()
				if err != nil {
					t.Fatalf("err %v, want rc %d", err, tc.rc)
				}
				if r.RC != tc.rc {
					t.Fatalf("rc %d, want %d", r.RC, tc.rc)
				}
			}
		})
	}
}
