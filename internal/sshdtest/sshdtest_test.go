package sshdtest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// The harness starts servers that a real client can log into, each on its
// own address with its own key, and leaves no process behind.
func TestStartLoginStop(t *testing.T) {
	key := NewUserKeyT(t)
	c, err := Start(3, t.TempDir(), Config{AuthorizedKeys: []ssh.PublicKey{key.Public}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	seen := map[string]bool{}
	var pids []int
	for _, s := range c.Servers {
		if seen[s.Address()] {
			t.Errorf("address %s used twice", s.Address())
		}
		seen[s.Address()] = true
		pids = append(pids, s.Pid())
		hk := ssh.FixedHostKey(s.HostKey)
		cl, err := ssh.Dial("tcp", s.Address(), &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(key.Signer)}, HostKeyCallback: hk, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		sess, _ := cl.NewSession()
		// sleep keeps a session process alive for Stop to find.
		if err := sess.Start("sleep 600"); err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if b, err := os.ReadFile(filepath.Join(s.Dir, "sshd.pid")); err != nil || strings.TrimSpace(string(b)) == "" {
			t.Errorf("%s: no pid file: %v", s.Name, err)
		}
	}
	var kids []int
	for _, p := range pids {
		kids = append(kids, Descendants(p)...)
	}
	if len(kids) == 0 {
		t.Fatal("no connection processes found below the servers")
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(pids, kids...) {
		if alive(p) {
			t.Errorf("pid %d still running after Stop", p)
		}
	}
	for _, s := range c.Servers {
		if nc, err := net.DialTimeout("tcp", s.Address(), time.Second); err == nil {
			nc.Close()
			t.Errorf("%s still listening", s.Name)
		}
	}
}
