package sshdtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartT starts n servers for a test and stops them in t.Cleanup, also when
// the test fails. It fails the test, saying what is missing, when sshd
// cannot run here.
func StartT(t testing.TB, n int, cfg Config) *Cluster {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir's parent is private to root; sshd reads authorized_keys
	// below it as the user logging in.
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Start(n, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range c.Servers {
				if l := strings.TrimSpace(s.Log()); l != "" {
					t.Logf("sshd %s log:\n%s", s.Name, l)
				}
			}
		}
		c.Stop()
	})
	return c
}

// NewUserKeyT makes a client key in the test's temporary directory.
func NewUserKeyT(t testing.TB) *UserKey {
	t.Helper()
	k, err := NewUserKey(t.TempDir(), "id_ed25519")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// StartAgentT starts a real ssh-agent holding keys and returns its socket
// path; the agent is stopped (by pid) in t.Cleanup.
func StartAgentT(t testing.TB, keys ...*UserKey) string {
	t.Helper()
	bin, err := exec.LookPath("ssh-agent")
	if err != nil {
		t.Fatal("ssh-agent is missing: install Debian's openssh-client (`make deps`)")
	}
	// Unix socket paths are limited to 108 bytes; t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "kplay-agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(bin, "-D", "-a", sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting ssh-agent: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for i := 0; ; i++ {
		nc, err := net.Dial("unix", sock)
		if err == nil {
			nc.Close()
			break
		}
		if i > 250 {
			t.Fatalf("ssh-agent socket %s not ready: %v", sock, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, k := range keys {
		add := exec.Command("ssh-add", k.Path)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %s: %v: %s", k.Path, err, out)
		}
	}
	return sock
}

// processesOf lists the running processes whose real uid is uid.
func processesOf(uid string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" && f[1] == uid && alive(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// AddUserT creates a local user (with a home directory and /bin/sh) for
// the test and removes it, its home and its sudoers file in t.Cleanup.
// sudoers is a sudoers rule body for the user, for example
// "ALL=(ALL) NOPASSWD: ALL", or "" for none. The user can log in with a
// key (its password is '*': no password login, but not a locked account,
// which sshd would refuse).
func AddUserT(t testing.TB, sudoers string) string {
	t.Helper()
	for _, tool := range []string{"useradd", "userdel", "usermod"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: install Debian's passwd package", tool)
		}
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "kpt" + hex.EncodeToString(rnd[:])
	if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	sudoersFile := "/etc/sudoers.d/" + name
	t.Cleanup(func() {
		os.Remove(sudoersFile)
		// A session of the user may still be ending after its connection
		// closed; userdel refuses while it runs. Those processes were
		// started for this test (the user is brand new), so after a grace
		// period they are killed, by pid.
		if u, err := user.Lookup(name); err == nil {
			deadline := time.Now().Add(5 * time.Second)
			for {
				pids := processesOf(u.Uid)
				if len(pids) == 0 {
					break
				}
				if time.Now().After(deadline) {
					for _, p := range pids {
						syscall.Kill(p, syscall.SIGKILL)
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, out)
		}
	})
	if out, err := exec.Command("usermod", "-p", "*", name).CombinedOutput(); err != nil {
		t.Fatalf("usermod %s: %v: %s", name, err, out)
	}
	if sudoers != "" {
		if _, err := os.Stat("/usr/bin/sudo"); err != nil {
			t.Fatal("sudo is missing: install Debian's sudo package (`make deps`)")
		}
		rule := fmt.Sprintf("%s %s\n", name, sudoers)
		if err := os.WriteFile(sudoersFile, []byte(rule), 0o440); err != nil {
			t.Fatal(err)
		}
	}
	return name
}
