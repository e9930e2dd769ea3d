//go:build lab

package labfaults

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kplay/engine"
)

// stepBook: a directory and a file, a step that sleeps on one host only,
// a file after it.
const stepBook = `- hosts: kcm
  gather_facts: false
  tasks:
    - name: dir
      file:
        path: "{{ work }}"
        state: directory
    - name: first
      copy:
        content: "one\n"
        dest: "{{ work }}/one.txt"
    - name: long
      shell: "touch {{ work }}/long.started; if [ {{ inventory_hostname }} = {{ slow }} ]; then sleep {{ nap }}; fi"
    - name: after
      copy:
        content: "after\n"
        dest: "{{ work }}/after.txt"
`

// midCommand runs stepBook with the victim sleeping in "long", calls fault
// once the sleep runs there, and checks what a host lost in the middle of a
// command must give: the others finish every task, the victim is
// unreachable with a reason, exit 4, nothing of the later task on the
// victim, no temporary file anywhere. It returns the run, when the fault
// was made, and the sleep's argument (to find the command on the host).
func midCommand(t *testing.T, l *lab, fault func()) (*run, time.Time, string) {
	t.Helper()
	book := writeBook(t, stepBook)
	n := nap()
	t.Cleanup(func() { l.killProcs(victim, "sleep\x00"+n) })
	r := l.start(t, book, "-e", "slow="+victim, "-e", "nap="+n)
	waitFor(t, victim+" to sleep in the long step", 2*time.Minute, func() bool {
		_, err := os.Stat(l.path(victim, "long.started"))
		return err == nil && len(l.procsOf(victim, "sleep\x00"+n)) > 0
	})
	at := time.Now()
	fault()
	r.Wait(t, hangLimit)
	if r.Code != 4 {
		t.Fatalf("want exit 4 (unreachable):\n%s", r)
	}
	wantRecap(t, r, map[string]engine.HostStats{
		"kcm-1": {OK: 4, Changed: 4},
		"kcm-2": {OK: 2, Changed: 2, Unreachable: 1},
		"kcm-3": {OK: 4, Changed: 4},
	})
	if e := r.Result(t, "long", victim); e.Status != engine.StatusUnreachable || e.Msg == "" {
		t.Errorf("%s long: %s %q, want unreachable with a reason", victim, e.Status, e.Msg)
	}
	for _, h := range hosts {
		if h == victim {
			if _, err := os.Stat(l.path(h, "after.txt")); !os.IsNotExist(err) {
				t.Errorf("%s: after.txt exists (%v), but the host was lost before that task", h, err)
			}
		} else if b, err := os.ReadFile(l.path(h, "after.txt")); err != nil || string(b) != "after\n" {
			t.Errorf("%s: after.txt = %q, %v", h, b, err)
		}
		if tmp := l.temps(h); len(tmp) > 0 {
			t.Errorf("%s: temporary files left: %v", h, tmp)
		}
	}
	return r, at, n
}

// rerunSteps reruns stepBook with no sleep once the lab is whole again; it
// must converge: exit 0, with the changes want says.
func rerunSteps(t *testing.T, l *lab, want map[string]engine.HostStats) {
	t.Helper()
	r := l.kplay(t, writeBook(t, stepBook), "-e", "slow="+victim, "-e", "nap=0")
	if r.Code != 0 {
		t.Fatalf("rerun after the lab is back: want exit 0:\n%s", r)
	}
	wantRecap(t, r, want)
	for _, h := range hosts {
		if b, err := os.ReadFile(l.path(h, "after.txt")); err != nil || string(b) != "after\n" {
			t.Errorf("rerun: %s: after.txt = %q, %v", h, b, err)
		}
		if tmp := l.temps(h); len(tmp) > 0 {
			t.Errorf("rerun: %s: temporary files left: %v", h, tmp)
		}
	}
}

// TestLabHostPoweredOff: the victim host goes away while it runs a command:
// a power cut (SIGKILL to its PID 1, which ends every process of the host at
// once, as `machinectl terminate` does) and an orderly `systemctl poweroff`
// inside it. lab.sh up boots it again, from a fresh overlay.
func TestLabHostPoweredOff(t *testing.T) {
	l := setup(t)
	for _, c := range []struct {
		name string
		off  func(t *testing.T)
	}{
		{"power cut", func(t *testing.T) {
			if err := syscall.Kill(l.init(t, victim), syscall.SIGKILL); err != nil {
				t.Fatalf("killing %s's PID 1: %v", victim, err)
			}
		}},
		{"poweroff", func(t *testing.T) {
			if out, err := inHost(l.init(t, victim), "systemctl", "poweroff"); err != nil {
				t.Fatalf("systemctl poweroff in %s: %v\n%s", victim, err, out)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() { l.restore(t); l.clean(t) })
			r, at, _ := midCommand(t, l, func() { c.off(t) })
			e := r.Result(t, "long", victim)
			t.Logf("%s: %s reported unreachable %s after the fault: %s", c.name, victim, e.Time.Sub(at).Round(time.Millisecond), e.Msg)

			l.restore(t)
			// The host booted afresh: everything changes there.
			rerunSteps(t, l, map[string]engine.HostStats{
				"kcm-1": {OK: 4, Changed: 1},
				"kcm-2": {OK: 4, Changed: 4},
				"kcm-3": {OK: 4, Changed: 1},
			})
		})
	}
}

// TestLabLinkCut: the victim's link goes down (`ip link set eth0 down` in
// its network namespace) in the middle of a command and in the middle of a
// large copy. Nothing answers and nothing closes the connection: kplay's
// keepalive has to notice. lab.sh up sets the link up again.
func TestLabLinkCut(t *testing.T) {
	l := setup(t)
	cut := func(t *testing.T) {
		if out, err := ipNetns(victim, "link", "set", "eth0", "down"); err != nil {
			t.Fatalf("cutting %s's link: %v\n%s", victim, err, out)
		}
	}
	// restoreLink reports whether lab.sh had to boot the victim again (a
	// fresh overlay: its files are gone), which it does when its sshd does
	// not answer within 15 s of the link coming back.
	restoreLink := func(t *testing.T) (rebooted bool) {
		t.Helper()
		rebooted = l.restore(t)
		if out, err := ipNetns(victim, "link", "show", "eth0"); err != nil || !strings.Contains(out, ",UP") {
			t.Fatalf("lab.sh up did not set %s's link up again: %v\n%s", victim, err, out)
		}
		return rebooted
	}

	t.Run("command", func(t *testing.T) {
		t.Cleanup(func() { l.restore(t); l.clean(t) })
		r, at, n := midCommand(t, l, func() { cut(t) })
		e := r.Result(t, "long", victim)
		t.Logf("link cut mid-command: %s reported unreachable %s after the cut: %s", victim, e.Time.Sub(at).Round(time.Millisecond), e.Msg)
		rebooted := restoreLink(t)
		// The host's sshd has not seen the connection end; what it does
		// with the command is its business (the cleanup ends it).
		t.Logf("after the link is back, the cut command still runs on %s: %v", victim, len(l.procsOf(victim, "sleep\x00"+n)) > 0)
		// The rerun redoes what the victim missed: "long" and "after", or
		// everything when lab.sh booted it afresh.
		victimChanged := 2
		if rebooted {
			victimChanged = 4
		}
		rerunSteps(t, l, map[string]engine.HostStats{
			"kcm-1": {OK: 4, Changed: 1},
			"kcm-2": {OK: 4, Changed: victimChanged},
			"kcm-3": {OK: 4, Changed: 1},
		})
	})

	t.Run("transfer", func(t *testing.T) {
		t.Cleanup(func() { l.restore(t); l.clean(t) })
		content := make([]byte, 64<<20)
		rand.Read(content)
		src := filepath.Join(t.TempDir(), "big.bin")
		if err := os.WriteFile(src, content, 0o644); err != nil {
			t.Fatal(err)
		}
		book := writeBook(t, copyBook)
		r := l.start(t, book, "-e", "src="+src)
		waitFor(t, victim+"'s temporary file", 2*time.Minute, func() bool { return len(l.temps(victim)) > 0 })
		// Hold the host's writer so the copy cannot finish while the link
		// is cut, then let it go on: it reads what reached the host and
		// waits for the rest.
		writers := l.procsNamed(victim, "cat")
		for _, p := range writers {
			syscall.Kill(p, syscall.SIGSTOP)
		}
		at := time.Now()
		cut(t)
		for _, p := range writers {
			syscall.Kill(p, syscall.SIGCONT)
		}
		if len(writers) == 0 {
			t.Logf("no cat found on %s when its temporary file appeared", victim)
		}
		r.Wait(t, hangLimit)
		if r.Code != 4 {
			t.Fatalf("want exit 4 (unreachable):\n%s", r)
		}
		wantRecap(t, r, map[string]engine.HostStats{
			"kcm-1": {OK: 3, Changed: 3},
			"kcm-2": {OK: 1, Changed: 1, Unreachable: 1},
			"kcm-3": {OK: 3, Changed: 3},
		})
		e := r.Result(t, "big file", victim)
		if e.Status != engine.StatusUnreachable || e.Msg == "" {
			t.Errorf("%s big file: %s %q, want unreachable with a reason", victim, e.Status, e.Msg)
		}
		t.Logf("link cut mid-transfer: %s reported unreachable %s after the cut: %s", victim, e.Time.Sub(at).Round(time.Millisecond), e.Msg)
		if _, err := os.Stat(l.path(victim, "big.bin")); !os.IsNotExist(err) {
			t.Errorf("a partial big.bin landed on %s (%v)", victim, err)
		}
		for _, h := range hosts {
			if h == victim {
				continue
			}
			if b, err := os.ReadFile(l.path(h, "big.bin")); err != nil || !bytes.Equal(b, content) {
				t.Errorf("%s: big.bin wrong (%d bytes, %v)", h, len(b), err)
			}
			if tmp := l.temps(h); len(tmp) > 0 {
				t.Errorf("%s: temporary files left: %v", h, tmp)
			}
		}
		t.Logf("on %s after the cut, before the link is back: temporary files %v", victim, l.temps(victim))

		rebooted := restoreLink(t)
		t.Logf("after the link is back, the cut write still runs on %s: %v", victim, len(l.procsOf(victim, workDir)) > 0)
		r = l.kplay(t, book, "-e", "src="+src)
		if r.Code != 0 {
			t.Fatalf("rerun after the link is back: want exit 0:\n%s", r)
		}
		// The victim gets the file and "after"; its directory too when
		// lab.sh booted it afresh.
		victimChanged := 2
		if rebooted {
			victimChanged = 3
		}
		wantRecap(t, r, map[string]engine.HostStats{
			"kcm-1": {OK: 3},
			"kcm-2": {OK: 3, Changed: victimChanged},
			"kcm-3": {OK: 3},
		})
		for _, h := range hosts {
			if b, err := os.ReadFile(l.path(h, "big.bin")); err != nil || !bytes.Equal(b, content) {
				t.Errorf("rerun: %s: big.bin wrong (%d bytes, %v)", h, len(b), err)
			}
			if tmp := l.temps(h); len(tmp) > 0 {
				t.Errorf("rerun: %s: temporary files left: %v", h, tmp)
			}
		}
	})
}

// copyBook copies one big local file to every host.
const copyBook = `- hosts: kcm
  gather_facts: false
  tasks:
    - name: dir
      file:
        path: "{{ work }}"
        state: directory
    - name: big file
      copy:
        src: "{{ src }}"
        dest: "{{ work }}/big.bin"
        mode: "0640"
    - name: after
      copy:
        content: "after\n"
        dest: "{{ work }}/after.txt"
`
