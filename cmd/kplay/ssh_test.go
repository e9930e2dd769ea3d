package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"kplay/internal/sshdtest"
)

// sshInventory writes an inventory naming the test's sshd servers as the
// web group, as the e2e playbook wants, and returns its path.
func sshInventory(t *testing.T, c *sshdtest.Cluster, key, knownHosts string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("[web]\n")
	for i, s := range c.Servers {
		fmt.Fprintf(&b, "web%d ansible_host=%s ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s", i+1, s.Addr, s.Port, key)
		if knownHosts != "" {
			fmt.Fprintf(&b, " kplay_known_hosts=%s", knownHosts)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n[app:children]\nweb\n\n[web:vars]\nsite_root=\"{{ root }}/{{ inventory_hostname }}\"\n")
	p := filepath.Join(dir, "hosts.ini")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The e2e playbook reads app_port from group_vars beside the inventory.
	for _, sub := range []string{"group_vars/web.yml", "host_vars/web2.yml"} {
		data, err := os.ReadFile(filepath.Join("testdata/e2e/inventory", sub))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(sub)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sub), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestOverSSH runs the end-to-end playbook against two real sshd servers on
// loopback: same results as on the local connection, a second run changes
// nothing, and an unknown host key stops the host unless accepted.
func TestOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	t.Setenv("HOME", t.TempDir()) // no ~/.ssh of the machine's
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("NO_COLOR", "1")
	key := sshdtest.NewUserKeyT(t)
	c := sshdtest.StartT(t, 2, sshdtest.Config{AuthorizedKeys: []ssh.PublicKey{key.Public}})
	known := filepath.Join(t.TempDir(), "known_hosts")
	if err := c.WriteKnownHosts(known); err != nil {
		t.Fatal(err)
	}

	t.Run("playbook", func(t *testing.T) {
		root := t.TempDir()
		inv := sshInventory(t, c, key.Path, known)
		args := []string{e2eBook, "-i", inv, "-e", "root=" + root, "--output", "json"}
		code, out, stderr := kplay(t, args...)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
		}
		evs := events(t, out)
		for h, s := range recapOf(t, evs) {
			if s.Failed != 0 || s.Unreachable != 0 || s.Changed == 0 || s.Rescued != 1 {
				t.Errorf("%s: %+v", h, s)
			}
		}
		if got := readFile(t, root, "web2", "etc/app.conf"); !strings.Contains(got, "port = 8081") {
			t.Errorf("web2 app.conf = %q", got)
		}
		code, out, stderr = kplay(t, args...)
		if code != 0 {
			t.Fatalf("second run: exit %d\n%s", code, stderr)
		}
		for h, s := range recapOf(t, events(t, out)) {
			if s.Changed != 0 {
				t.Errorf("second run: %s changed=%d", h, s.Changed)
			}
		}
	})

	t.Run("unknown host key", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		inv := sshInventory(t, c, key.Path, empty)
		code, out, stderr := kplay(t, "testdata/fail.yml", "-i", inv, "-l", "web1", "-e", "root="+t.TempDir())
		if code != 4 {
			t.Fatalf("exit %d, want 4\n%s\n%s", code, out, stderr)
		}
		if !strings.Contains(out, "UNREACHABLE!") || !strings.Contains(out, "SHA256:") {
			t.Errorf("want the host unreachable with the key's fingerprint:\n%s", out)
		}
		code, out, stderr = kplay(t, "testdata/fail.yml", "-i", inv, "-l", "web2", "--accept-new-host-keys", "-e", "root="+t.TempDir())
		if code != 0 {
			t.Fatalf("--accept-new-host-keys: exit %d\n%s\n%s", code, out, stderr)
		}
		b, err := os.ReadFile(empty)
		if err != nil || !strings.Contains(string(b), c.Servers[1].Addr) {
			t.Errorf("accepted key not recorded in %s: %q %v", empty, b, err)
		}
	})
}
