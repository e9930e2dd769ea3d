package wait_for

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"kplay/internal/sshdtest"
	"kplay/modules"
	"kplay/transport"
	kssh "kplay/transport/ssh"
)

// sshHost starts a real sshd on a loopback address and connects to it.
func sshHost(t *testing.T, extraConfig string) transport.Conn {
	t.Helper()
	key := sshdtest.NewUserKeyT(t)
	cl := sshdtest.StartT(t, 1, sshdtest.Config{AuthorizedKeys: []gossh.PublicKey{key.Public}, ExtraConfig: extraConfig})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := cl.WriteKnownHosts(kh); err != nil {
		t.Fatal(err)
	}
	d := kssh.NewDialer(kssh.Config{User: "root", KeyFiles: []string{key.Path}, KnownHostsFiles: []string{kh},
		Home: t.TempDir(), Agent: "none", ConnectTimeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := cl.Servers[0]
	c, err := d.Dial(ctx, transport.HostSpec{Name: s.Name, Address: s.Addr, Port: s.Port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runOn runs wait_for on conn for real and returns the result or the error.
func runOn(t *testing.T, conn transport.Conn, raw map[string]any) (*modules.Result, error) {
	t.Helper()
	args, errs := modules.Normalize(Module{}.Info(), raw)
	if len(errs) > 0 {
		t.Fatalf("Normalize: %v", errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The host's address is one the controller cannot use: connect_from
	// host must not need it.
	c := &modules.Call{Host: "kcm-1", Conn: conn, Args: args,
		Hosts: []modules.HostRef{{Name: "kcm-1", Address: "198.18.0.250"}}}
	p, err := Module{}.Plan(ctx, c)
	if err != nil {
		return nil, err
	}
	return p.Apply(ctx)
}

func TestConnectFromHost(t *testing.T) {
	_, open := listen(t)
	closed := closedPort(t)
	conn := sshHost(t, "")
	for _, tc := range []struct {
		name string
		raw  map[string]any
		fail string
	}{
		{"open port, default host 127.0.0.1", map[string]any{"port": open}, ""},
		{"banner through the host", map[string]any{"port": open, "search_regex": `SSH-2\.0-(\w+)`}, ""},
		{"banner that never matches ends at connect_timeout", map[string]any{"port": open, "search_regex": "^HTTP", "timeout": "1s", "connect_timeout": "300ms"}, "and closed"},
		{"closed port stopped", map[string]any{"port": closed, "state": "stopped"}, ""},
		{"closed port started times out", map[string]any{"port": closed, "timeout": "500ms", "sleep": "100ms"}, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.raw["connect_from"] = "host"
			if _, ok := tc.raw["timeout"]; !ok {
				tc.raw["timeout"] = "5s"
			}
			r, err := runOn(t, conn, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if r.Data["host"] != "127.0.0.1" {
				t.Errorf("host %v, want 127.0.0.1", r.Data["host"])
			}
			if tc.fail == "" && r.Failed {
				t.Fatalf("failed: %s", r.Msg)
			}
			if tc.fail != "" && (!r.Failed || !strings.Contains(r.Msg, tc.fail)) {
				t.Fatalf("failed=%v msg %q, want a failure with %q", r.Failed, r.Msg, tc.fail)
			}
		})
	}
	t.Run("from the controller the host's address is used", func(t *testing.T) {
		r, err := runOn(t, conn, map[string]any{"port": open, "timeout": "500ms", "connect_timeout": "200ms", "sleep": "100ms"})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Failed || r.Data["host"] != "198.18.0.250" {
			t.Fatalf("failed=%v host=%v: want a failure to reach 198.18.0.250 from here", r.Failed, r.Data["host"])
		}
	})
}

// An sshd that forwards nothing is an error at once, not a port that
// stays closed until the timeout (and never "stopped" by mistake).
func TestConnectFromHostForbidden(t *testing.T) {
	_, open := listen(t)
	conn := sshHost(t, "AllowTcpForwarding no")
	for _, state := range []string{"started", "stopped"} {
		t.Run(state, func(t *testing.T) {
			_, err := runOn(t, conn, map[string]any{"port": open, "connect_from": "host", "state": state, "timeout": "30s"})
			if err == nil || !strings.Contains(err.Error(), "AllowTcpForwarding") {
				t.Fatalf("err %v, want one naming AllowTcpForwarding", err)
			}
		})
	}
}
