package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"kplay/engine"
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
type run struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

// startKplay starts the kplay binary; wait() collects it. The process is
// killed in t.Cleanup should the test end first.
func startKplay(t *testing.T, args ...string) *run {
	t.Helper()
	r := &run{cmd: exec.Command(kplayBin, args...), done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := r.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			r.code = ee.ExitCode()
		default:
			r.code = -1
		}
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// wait waits for kplay to end, failing the test after a few minutes: a
// hang is one of the faults these tests look for.
func (r *run) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(3 * time.Minute):
		r.cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump in stderr
		time.Sleep(time.Second)
		r.cmd.Process.Kill()
		<-r.done
		t.Fatalf("kplay hung; stderr:\n%s", r.stderr.String())
	}
}

// kplay runs the binary to its end.
func kplay(t *testing.T, args ...string) *run {
	t.Helper()
	r := startKplay(t, args...)
	r.wait(t)
	return r
}

func (r *run) events(t *testing.T) []engine.Event {
	t.Helper()
	var evs []engine.Event
	sc := bufio.NewScanner(bytes.NewReader(r.stdout.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e engine.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("output line is not a JSON event: %v\n%s", err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

// recap maps host to its PLAY RECAP line; the recap must be the last event.
func (r *run) recap(t *testing.T) map[string]engine.HostStats {
	t.Helper()
	evs := r.events(t)
	if len(evs) == 0 || evs[len(evs)-1].Type != engine.EvRecap {
		t.Fatalf("no recap at the end of the output:\n%s\nstderr:\n%s", r.stdout.String(), r.stderr.String())
	}
	m := map[string]engine.HostStats{}
	for _, s := range evs[len(evs)-1].Recap {
		m[s.Host] = s
	}
	return m
}

// results maps "task|host" to the host result.
func (r *run) results(t *testing.T) map[string]engine.Event {
	t.Helper()
	m := map[string]engine.Event{}
	for _, e := range r.events(t) {
		if e.Type == engine.EvHostResult {
			m[e.Task+"|"+e.Host] = e
		}
	}
	return m
}

func (r *run) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout.String(), r.stderr.String())
}

// wantRecap compares recap lines field by field.
func wantRecap(t *testing.T, r *run, want map[string]engine.HostStats) {
	t.Helper()
	got := r.recap(t)
	for h, w := range want {
		w.Host = h
		if g := got[h]; g != w {
			t.Errorf("recap %s: got %+v, want %+v", h, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("recap has %d hosts, want %d: %+v", len(got), len(want), got)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

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
