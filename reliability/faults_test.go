package reliability

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kplay/engine"
	"kplay/internal/sshdtest"
)

// stepBook: a file, a step that sleeps on one host only, a file after it.
const stepBook = `- hosts: all
  gather_facts: false
  tasks:
    - name: first
      copy:
        content: "one\n"
        dest: "{{ root }}/{{ inventory_hostname }}/one.txt"
    - name: long
      shell: "touch {{ root }}/{{ inventory_hostname }}/long.started; if [ {{ inventory_hostname }} = {{ slow }} ]; then sleep {{ nap }}; fi"
      timeout: "{{ limit }}"
    - name: after
      copy:
        content: "after\n"
        dest: "{{ root }}/{{ inventory_hostname }}/after.txt"
`

// stepBookWith is stepBook with the long step's timeout in seconds.
func stepBookWith(timeout int) string {
	return strings.Replace(stepBook, `timeout: "{{ limit }}"`, "timeout: "+strconv.Itoa(timeout), 1)
}

// TestHostDiesMidTask: sshd and everything below it on one host are killed
// (SIGKILL, as a power cut) while that host runs a command. The others
// finish, the dead host is unreachable in the recap, exit code 4, its
// command is gone, and a rerun once it is back converges.
func TestHostDiesMidTask(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	f := newFleet(t, 3)
	book := writeFile(t, t.TempDir(), "site.yml", stepBookWith(120))
	inv := f.inventory(t)
	nap := napFor(t)
	r := startKplay(t, book, "-i", inv, "--output", "json", "-e", "root="+f.root, "-e", "slow=host2", "-e", "nap="+nap)
	waitFor(t, "host2 to start the long command", time.Minute, func() bool {
		_, err := os.Stat(filepath.Join(f.root, "host2", "long.started"))
		return err == nil && len(processesWithArg("sleep\x00"+nap)) > 0
	})
	if err := f.c.Servers[1].Kill(); err != nil {
		t.Fatal(err)
	}
	r.Wait(t, hangLimit)
	if r.Code != 4 {
		t.Fatalf("want exit 4 (unreachable):\n%s", r)
	}
	wantRecap(t, r, map[string]engine.HostStats{
		"host1": {OK: 3, Changed: 3},
		"host2": {OK: 1, Changed: 1, Unreachable: 1},
		"host3": {OK: 3, Changed: 3},
	})
	if e := r.Results(t)["long|host2"]; e.Status != engine.StatusUnreachable || e.Msg == "" {
		t.Errorf("host2 long: %+v, want unreachable with a reason", e)
	}
	if l := leftovers(t, filepath.Join(f.root, "host2"), "one.txt", "long.started"); len(l) > 0 {
		t.Errorf("host2 has files it should not: %v", l)
	}
	if p := processesWithArg("sleep\x00" + nap); len(p) > 0 {
		t.Errorf("the dead host's command still runs: %v", p)
	}

	if err := f.c.Servers[1].Start(); err != nil {
		t.Fatal(err)
	}
	r = kplay(t, book, "-i", inv, "--output", "json", "-e", "root="+f.root, "-e", "slow=host2", "-e", "nap=0")
	if r.Code != 0 {
		t.Fatalf("rerun: want exit 0:\n%s", r)
	}
	// Only the shell step (always changed) and host2's missing file change.
	wantRecap(t, r, map[string]engine.HostStats{
		"host1": {OK: 3, Changed: 1},
		"host2": {OK: 3, Changed: 2},
		"host3": {OK: 3, Changed: 1},
	})
	for _, h := range []string{"host1", "host2", "host3"} {
		if b, err := os.ReadFile(filepath.Join(f.root, h, "after.txt")); err != nil || string(b) != "after\n" {
			t.Errorf("%s after.txt = %q, %v", h, b, err)
		}
	}
}

// copyBook copies one big local file to every host.
const copyBook = `- hosts: all
  gather_facts: false
  tasks:
    - name: big file
      copy:
        src: "{{ src }}"
        dest: "{{ root }}/{{ inventory_hostname }}/big.bin"
        mode: "0640"
    - name: after
      copy:
        content: "after\n"
        dest: "{{ root }}/{{ inventory_hostname }}/after.txt"
`

// TestTransferCut: a 48 MiB copy is cut on one host while its temporary
// file is being written, in two ways: only the sshd processes die (the
// host's shell lives on and sees its input end), or everything on the host
// dies at once (a power cut: nothing on the host can clean up). Either
// way the destination is never a partial file, the other hosts finish,
// exit code 4, and a rerun lands the file and removes any temporary file
// left behind.
func TestTransferCut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	for _, c := range []struct {
		name string
		cut  func(s *sshdtest.Server, pids []int)
		// tempMayStay: a power cut leaves the temporary file (nothing runs
		// on the host to remove it) until the next write to that file.
		tempMayStay bool
	}{
		{"sshd killed", killSSHDOnly, false},
		{"host killed", func(s *sshdtest.Server, _ []int) { s.Kill() }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFleet(t, 3)
			dir := t.TempDir()
			content := make([]byte, 48<<20)
			rand.Read(content)
			src := filepath.Join(dir, "big.bin")
			if err := os.WriteFile(src, content, 0o644); err != nil {
				t.Fatal(err)
			}
			book := writeFile(t, dir, "site.yml", copyBook)
			inv := f.inventory(t)
			args := []string{book, "-i", inv, "--output", "json", "-e", "root=" + f.root, "-e", "src=" + src}
			h2 := filepath.Join(f.root, "host2")
			s := f.c.Servers[1]
			r := startKplay(t, args...)
			waitFor(t, "host2's temporary file", time.Minute, func() bool {
				return len(leftovers(t, h2)) > 0
			})
			// Freeze the host's side so the transfer cannot finish while
			// the pids are collected, then cut.
			s.Freeze()
			pids := append([]int{s.Pid()}, sshdtest.Descendants(s.Pid())...)
			c.cut(s, pids)
			r.Wait(t, hangLimit)
			if r.Code != 4 {
				t.Fatalf("want exit 4:\n%s", r)
			}
			wantRecap(t, r, map[string]engine.HostStats{
				"host1": {OK: 2, Changed: 2},
				"host2": {Unreachable: 1},
				"host3": {OK: 2, Changed: 2},
			})
			if _, err := os.Stat(filepath.Join(h2, "big.bin")); !os.IsNotExist(err) {
				t.Errorf("a partial big.bin landed on host2 (%v)", err)
			}
			if !c.tempMayStay {
				// The host's shell removes its temporary file when its
				// input ends short; give it the moment it needs.
				deadline := time.Now().Add(10 * time.Second)
				for len(leftovers(t, h2)) > 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if l := leftovers(t, h2); len(l) > 0 {
					t.Errorf("left on host2: %v", l)
				}
			}
			for _, h := range []string{"host1", "host3"} {
				if b, err := os.ReadFile(filepath.Join(f.root, h, "big.bin")); err != nil || !bytes.Equal(b, content) {
					t.Errorf("%s big.bin wrong (%d bytes, %v)", h, len(b), err)
				}
			}

			s.Stop() // reaps what the cut left of the old server
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			r = kplay(t, args...)
			if r.Code != 0 {
				t.Fatalf("rerun: want exit 0:\n%s", r)
			}
			wantRecap(t, r, map[string]engine.HostStats{
				"host1": {OK: 2},
				"host2": {OK: 2, Changed: 2},
				"host3": {OK: 2},
			})
			if b, err := os.ReadFile(filepath.Join(h2, "big.bin")); err != nil || !bytes.Equal(b, content) {
				t.Errorf("host2 big.bin wrong after the rerun (%d bytes, %v)", len(b), err)
			}
			for _, h := range []string{"host1", "host2", "host3"} {
				if l := leftovers(t, filepath.Join(f.root, h), "big.bin", "after.txt"); len(l) > 0 {
					t.Errorf("left on %s after the rerun: %v", h, l)
				}
			}
		})
	}
}

// killSSHDOnly kills the sshd processes among pids (listener and
// per-connection) and lets the rest (the user's shell) go on.
func killSSHDOnly(_ *sshdtest.Server, pids []int) {
	var rest []int
	for _, p := range pids {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
		if strings.TrimSpace(string(comm)) == "sshd" {
			syscall.Kill(p, syscall.SIGKILL)
		} else {
			rest = append(rest, p)
		}
	}
	for _, p := range rest {
		syscall.Kill(p, syscall.SIGCONT)
	}
}

// TestUnansweringHosts: a host whose port accepts TCP but never speaks
// SSH, and a host where nothing listens. Both are unreachable with the
// reason (a timeout; connection refused), the other hosts finish, exit 4,
// and a rerun on the healthy hosts changes nothing.
func TestUnansweringHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	f := newFleet(t, 2)
	// A listener that accepts and then says nothing.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // kept open, never written to
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	// A port nobody listens on: take a free one and give it back.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()

	book := writeFile(t, t.TempDir(), "site.yml", stepBookWith(60))
	inv := f.inventory(t,
		f.hostLine("silent", "127.0.0.1", silent.Addr().(*net.TCPAddr).Port),
		f.hostLine("closed", "127.0.0.1", closedPort))
	for _, h := range []string{"silent", "closed"} {
		os.MkdirAll(filepath.Join(f.root, h), 0o755)
	}
	args := []string{book, "-i", inv, "--output", "json", "-e", "root=" + f.root, "-e", "slow=none", "-e", "nap=0"}
	r := kplay(t, args...)
	if r.Code != 4 {
		t.Fatalf("want exit 4:\n%s", r)
	}
	wantRecap(t, r, map[string]engine.HostStats{
		"host1":  {OK: 3, Changed: 3},
		"host2":  {OK: 3, Changed: 3},
		"silent": {Unreachable: 1},
		"closed": {Unreachable: 1},
	})
	res := r.Results(t)
	for h, want := range map[string]string{"silent": "timed out", "closed": "connection refused"} {
		if e := res["first|"+h]; e.Status != engine.StatusUnreachable || !strings.Contains(e.Msg, want) {
			t.Errorf("%s: %s %q, want unreachable saying %q", h, e.Status, e.Msg, want)
		}
	}
	r = kplay(t, append(args, "-l", "host1:host2")...)
	if r.Code != 0 {
		t.Fatalf("rerun: want exit 0:\n%s", r)
	}
	wantRecap(t, r, map[string]engine.HostStats{
		"host1": {OK: 3, Changed: 1},
		"host2": {OK: 3, Changed: 1},
	})
}

// TestHungCommand: a command that never ends on one host is stopped by
// the task's timeout: the task fails with Ansible's message, the command is
// gone from the host, that host does no more tasks, the others finish,
// exit 2; a rerun with the command fixed converges.
func TestHungCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	f := newFleet(t, 3)
	book := writeFile(t, t.TempDir(), "site.yml", stepBookWith(2))
	inv := f.inventory(t)
	nap := napFor(t)
	r := kplay(t, book, "-i", inv, "--output", "json", "-e", "root="+f.root, "-e", "slow=host2", "-e", "nap="+nap)
	if r.Code != 2 {
		t.Fatalf("want exit 2 (failed):\n%s", r)
	}
	wantRecap(t, r, map[string]engine.HostStats{
		"host1": {OK: 3, Changed: 3},
		"host2": {OK: 1, Changed: 1, Failed: 1},
		"host3": {OK: 3, Changed: 3},
	})
	if e := r.Results(t)["long|host2"]; !strings.Contains(e.Msg, "failed to execute in the expected time frame (2)") {
		t.Errorf("host2 long: %q, want the timeout message", e.Msg)
	}
	// The session is closed after the kill; the host's side needs a moment.
	deadline := time.Now().Add(10 * time.Second)
	for len(processesWithArg("sleep\x00"+nap)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p := processesWithArg("sleep\x00" + nap); len(p) > 0 {
		t.Errorf("the timed-out command still runs on host2: pids %v", p)
	}
	r = kplay(t, book, "-i", inv, "--output", "json", "-e", "root="+f.root, "-e", "slow=host2", "-e", "nap=0")
	if r.Code != 0 {
		t.Fatalf("rerun: want exit 0:\n%s", r)
	}
	wantRecap(t, r, map[string]engine.HostStats{
		"host1": {OK: 3, Changed: 1},
		"host2": {OK: 3, Changed: 2},
		"host3": {OK: 3, Changed: 1},
	})
}

// napFor is a sleep length no other process has, to find the command in
// the process list.
func napFor(t *testing.T) string {
	return "1000." + strconv.Itoa(os.Getpid()%1000) + strconv.Itoa(int(time.Now().UnixNano()%1000))
}
