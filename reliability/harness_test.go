package reliability

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"kplay/engine"
	"kplay/internal/kplayproc"
	"kplay/internal/sshdtest"
)

// kplayBin is the kplay binary built once for the package's tests: the
// faults are seen the way a user sees them, through the command line.
var kplayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kplay-reliability")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kplayBin = filepath.Join(dir, "kplay")
	if out, err := exec.Command("go", "build", "-o", kplayBin, "kplay/cmd/kplay").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kplay: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fleet is a set of real sshd hosts on loopback with a key, a known_hosts
// file and a scratch directory the hosts write into (they share the test
// machine's file system, so the test can look at what landed).
type fleet struct {
	c     *sshdtest.Cluster
	key   *sshdtest.UserKey
	known string
	root  string // each host writes below root/<inventory name>
}

func newFleet(t *testing.T, n int) *fleet {
	t.Helper()
	t.Setenv("HOME", t.TempDir()) // no ~/.ssh of the machine's
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("NO_COLOR", "1")
	key := sshdtest.NewUserKeyT(t)
	c := sshdtest.StartT(t, n, sshdtest.Config{AuthorizedKeys: []ssh.PublicKey{key.Public}})
	f := &fleet{c: c, key: key, known: filepath.Join(t.TempDir(), "known_hosts"), root: t.TempDir()}
	if err := c.WriteKnownHosts(f.known); err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Servers {
		if err := os.MkdirAll(filepath.Join(f.root, s.Name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// hostLine is an inventory line reaching addr:port with the fleet's key.
func (f *fleet) hostLine(name, addr string, port int) string {
	return fmt.Sprintf("%s ansible_host=%s ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s kplay_known_hosts=%s\n",
		name, addr, port, f.key.Path, f.known)
}

// inventory writes an inventory with every server of the fleet (named
// host1, host2, ...) plus extra lines, in group "all".
func (f *fleet) inventory(t *testing.T, extra ...string) string {
	t.Helper()
	var b strings.Builder
	for _, s := range f.c.Servers {
		b.WriteString(f.hostLine(s.Name, s.Addr, s.Port))
	}
	for _, l := range extra {
		b.WriteString(l)
	}
	p := filepath.Join(t.TempDir(), "hosts.ini")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeFile writes a test file and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// run is one kplay process.
type run = kplayproc.Run

// hangLimit is how long a kplay run may take before the test calls it hung.
const hangLimit = 3 * time.Minute

// startKplay starts the kplay binary; r.Wait collects it.
func startKplay(t *testing.T, args ...string) *run {
	t.Helper()
	return kplayproc.Start(t, kplayBin, args...)
}

// kplay runs the binary to its end.
func kplay(t *testing.T, args ...string) *run {
	t.Helper()
	r := startKplay(t, args...)
	r.Wait(t, hangLimit)
	return r
}

func wantRecap(t *testing.T, r *run, want map[string]engine.HostStats) {
	t.Helper()
	r.WantRecap(t, want)
}

var waitFor = kplayproc.WaitFor

// leftovers lists the files under dir whose names look like kplay's
// temporary files (or anything else than the names allowed).
func leftovers(t *testing.T, dir string, allowed ...string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		for _, a := range allowed {
			if rel == a {
				return nil
			}
		}
		out = append(out, rel)
		return nil
	})
	return out
}

// processesWithArg lists pids whose command line contains arg.
func processesWithArg(arg string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(arg)) {
			out = append(out, pid)
		}
	}
	return out
}

var _ = context.Background
