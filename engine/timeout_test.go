package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTaskTimeout: a task over its timeout fails with Ansible's message,
// its command is stopped (the line after the sleep never runs), and the
// play goes on; a task within its timeout is not affected. A block's
// timeout applies to each of its tasks that has none of its own.
func TestTaskTimeout(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "late")
	inv := filepath.Join(t.TempDir(), "hosts.ini")
	if err := os.WriteFile(inv, []byte("localhost ansible_connection=local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A sleep with a length of its own, to find it in the process list.
	nap := fmt.Sprintf("29.%d", os.Getpid())
	evs, out := runBook(t, "testdata/timeout.yml", inv, map[string]any{"marker": marker, "nap": nap})
	got := map[string]Event{}
	for _, e := range evs {
		if e.Type == EvHostResult {
			got[e.Task] = e
		}
	}
	for _, c := range []struct {
		task   string
		status Status
		msg    string
	}{
		{"hangs", StatusFailed, "The shell action failed to execute in the expected time frame (1) and was terminated"},
		{"next task still runs", StatusOK, "hung failed=true"},
		{"fast enough", StatusChanged, ""},
		{"hangs in a block", StatusFailed, "The shell action failed to execute in the expected time frame (1) and was terminated"},
		{"own timeout wins", StatusChanged, ""},
	} {
		t.Run(c.task, func(t *testing.T) {
			e, ok := got[c.task]
			if !ok {
				t.Fatalf("no result")
			}
			if e.Status != c.status || !strings.Contains(e.Msg, c.msg) {
				t.Errorf("status %q msg %q, want %q with %q", e.Status, e.Msg, c.status, c.msg)
			}
		})
	}
	if out.ExitCode() != 0 {
		t.Errorf("exit %d, want 0 (the failure is ignored)", out.ExitCode())
	}
	if pids := sleepers(nap); len(pids) > 0 {
		t.Errorf("the timed-out command is still running: pids %v", pids)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("the timed-out command went on running: %s exists (%v)", marker, err)
	}
}

// sleepers lists the processes running "sleep nap".
func sleepers(nap string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && string(b) == "sleep\x00"+nap+"\x00" {
			out = append(out, e.Name())
		}
	}
	return out
}
