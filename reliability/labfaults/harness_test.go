//go:build lab

package labfaults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"kplay/engine"
	"kplay/internal/kplayproc"
)

// repo is the repository root, seen from this package's directory.
const repo = "../.."

// workDir is where the playbooks write on every lab host.
const workDir = "/root/kplay-labfaults"

// victim is the host the faults hit; the other two must finish untouched.
const victim = "kcm-2"

var hosts = []string{"kcm-1", "kcm-2", "kcm-3"}

// lab is what the tests need: the kplay binary and the lab's paths.
type lab struct {
	bin   string
	inv   string
	state string // LAB_STATE
	run   string // LAB_RUN
	// marker is a file this test holds open without close-on-exec.
	marker string
}

// labSh runs lab/lab.sh with args under a deadline and returns its output.
func labSh(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(repo, "lab", "lab.sh")}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// setup brings the lab up (nothing changes when it is up), builds kplay and
// registers the repair: whatever the test does to a host, lab.sh up in
// t.Cleanup makes the lab whole again, and the work directory is removed.
func setup(t *testing.T) *lab {
	t.Helper()
	if out, err := labSh(5*time.Minute, "up"); err != nil {
		t.Fatalf("the lab is needed and lab/lab.sh up failed: %v\n%s", err, out)
	}
	l := &lab{bin: filepath.Join(t.TempDir(), "kplay")}
	build := exec.Command("go", "build", "-o", l.bin, "./cmd/kplay")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kplay: %v\n%s", err, out)
	}
	abs, err := filepath.Abs(filepath.Join(repo, "inventory"))
	if err != nil {
		t.Fatal(err)
	}
	l.inv = abs
	out, err := labSh(time.Minute, "env")
	if err != nil {
		t.Fatalf("lab.sh env: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "LAB_STATE":
			l.state = v
		case "LAB_RUN":
			l.run = v
		}
	}
	if l.state == "" || l.run == "" {
		t.Fatalf("lab.sh env names no LAB_STATE or LAB_RUN:\n%s", out)
	}
	t.Setenv("NO_COLOR", "1")
	l.openMarker(t)
	l.clean(t)
	t.Cleanup(func() { l.restore(t); l.clean(t) })
	return l
}

// openMarker opens a file without close-on-exec, as flock(1) holds its lock
// for the command it runs: every process started from here inherits it,
// lab.sh included. The lab's daemons must not keep it (lab.sh starts them
// with descriptors 0-2 only); one that did would hold `make lab-test`'s
// lock for as long as the lab stays up.
func (l *lab) openMarker(t *testing.T) {
	t.Helper()
	l.marker = filepath.Join(t.TempDir(), "inherited.marker")
	fd, err := syscall.Open(l.marker, syscall.O_CREAT|syscall.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
}

// checkInherited fails the test if a process the lab started holds the
// marker open.
func (l *lab) checkInherited(t *testing.T) {
	t.Helper()
	pidFiles, _ := filepath.Glob(filepath.Join(l.run, "*"))
	for _, f := range pidFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid := strings.TrimSpace(string(b))
		fds, _ := os.ReadDir(filepath.Join("/proc", pid, "fd"))
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join("/proc", pid, "fd", fd.Name())); err == nil && target == l.marker {
				t.Errorf("pid %s (%s) holds descriptor %s of lab.sh's caller: a daemon would keep a flock held", pid, filepath.Base(f), fd.Name())
			}
		}
	}
}

// restore brings the lab back to health after a fault.
func (l *lab) restore(t *testing.T) (rebooted bool) {
	t.Helper()
	out, err := labSh(5*time.Minute, "up")
	if err != nil {
		t.Errorf("lab/lab.sh up could not bring the lab back after the fault: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "kcm-") && strings.Contains(line, "booting") {
			t.Logf("lab.sh up: %s", line)
			rebooted = rebooted || strings.HasPrefix(line, victim+":")
		}
	}
	l.checkInherited(t)
	return rebooted
}

// clean removes the work directory on every host (through the host's root
// file system, seen from this machine) and ends what a test left running
// there.
func (l *lab) clean(t *testing.T) {
	t.Helper()
	for _, h := range hosts {
		// A write cut off from kplay may still wait for its input there.
		l.killProcs(h, workDir)
		if err := os.RemoveAll(l.path(h, "")); err != nil {
			t.Errorf("%s: removing %s: %v", h, workDir, err)
		}
	}
}

// path is a file on host h, as seen from this machine (the host's overlay
// is mounted at LAB_STATE/hosts/H/root).
func (l *lab) path(h, name string) string {
	return filepath.Join(l.state, "hosts", h, "root", workDir, name)
}

// init is the pid (here) of host h's PID 1.
func (l *lab) init(t *testing.T, h string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.run, h+".init"))
	if err != nil {
		t.Fatalf("%s: PID 1 of the host: %v", h, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %s.init: %v", h, h, err)
	}
	return pid
}

// procsOf lists the pids of host h's processes whose command line contains
// arg (argv joined with NUL bytes): the host's processes are those whose
// root is the host's overlay.
func (l *lab) procsOf(h, arg string) []int {
	root, err := os.Stat(filepath.Join(l.state, "hosts", h, "root"))
	if err != nil {
		return nil
	}
	dev := root.Sys().(*syscall.Stat_t).Dev
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.Stat(filepath.Join("/proc", e.Name(), "root"))
		if err != nil || st.Sys().(*syscall.Stat_t).Dev != dev {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(arg)) {
			out = append(out, pid)
		}
	}
	return out
}

// killProcs ends host h's processes whose command line holds arg, by pid.
func (l *lab) killProcs(h, arg string) {
	for _, p := range l.procsOf(h, arg) {
		syscall.Kill(p, syscall.SIGKILL)
	}
}

// temps lists kplay's temporary files in host h's work directory.
func (l *lab) temps(h string) []string {
	m, _ := filepath.Glob(l.path(h, ".*.kplay-*.tmp"))
	return m
}

// run is one kplay process.
type run = kplayproc.Run

// start starts kplay on the lab's inventory; the process is killed in
// t.Cleanup should the test end first.
func (l *lab) start(t *testing.T, book string, extra ...string) *run {
	t.Helper()
	args := append([]string{book, "-i", l.inv, "--output", "json", "-e", "work=" + workDir}, extra...)
	return kplayproc.Start(t, l.bin, args...)
}

// hangLimit: a hang is one of the faults looked for; kplay's keepalive
// gives up on a silent host within about a minute.
const hangLimit = 5 * time.Minute

func (l *lab) kplay(t *testing.T, book string, extra ...string) *run {
	t.Helper()
	r := l.start(t, book, extra...)
	r.Wait(t, hangLimit)
	return r
}

func wantRecap(t *testing.T, r *run, want map[string]engine.HostStats) {
	t.Helper()
	r.WantRecap(t, want)
}

var waitFor = kplayproc.WaitFor

// writeBook writes a playbook into a temporary directory.
func writeBook(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "site.yml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// nap is a sleep length no other process has, to find the command again.
func nap() string {
	return fmt.Sprintf("1000.%d%03d", os.Getpid()%1000, time.Now().UnixNano()%1000)
}

// ipNetns runs ip in host h's network namespace.
func ipNetns(h string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", h}, args...)...).CombinedOutput()
	return string(out), err
}

// procsNamed lists host h's processes whose command name is comm.
func (l *lab) procsNamed(h, comm string) []int {
	var out []int
	for _, p := range l.procsOf(h, "") {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
		if err == nil && strings.TrimSpace(string(b)) == comm {
			out = append(out, p)
		}
	}
	return out
}

// inHost runs a command inside the host whose PID 1 is init, without SSH.
func inHost(init int, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(init), "-m", "-u", "-i", "-n", "-p", "--"}, args...)...).CombinedOutput()
	return string(out), err
}
