package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runSrc runs an inline playbook on the two local hosts of testdata/two.ini.
func runSrc(t *testing.T, src string, extra map[string]any) ([]Event, *Outcome) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "play.yml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return runBook(t, path, "testdata/two.ini", extra)
}

// hostResults maps "task@host" to its host result.
func hostResults(evs []Event) map[string]Event {
	m := map[string]Event{}
	for _, e := range evs {
		if e.Type == EvHostResult {
			m[e.Task+"@"+e.Host] = e
		}
	}
	return m
}

// TestConditionLists: a list under failed_when or changed_when holds only
// when every condition does (Ansible's rule for every conditional list),
// and stops at the first false one.
func TestConditionLists(t *testing.T) {
	const src = `- hosts: a
  gather_facts: false
  tasks:
    - name: failed_when one of two
      command: "true"
      failed_when: [true, false]
    - name: failed_when both
      command: "true"
      failed_when: [true, "1 == 1"]
      ignore_errors: true
    - name: failed_when stops at the first false
      command: "true"
      register: r
      failed_when: [false, "r.nosuch == 1"]
    - name: failed_when single false
      command: "false"
      failed_when: false
    - name: changed_when one of two
      command: "true"
      changed_when: [true, false]
    - name: changed_when both
      command: "true"
      changed_when: [true, true]
`
	evs, out := runSrc(t, src, nil)
	if out.ExitCode() != 0 {
		t.Fatalf("exit %d: %+v", out.ExitCode(), evs)
	}
	got := hostResults(evs)
	tests := []struct {
		task    string
		status  Status
		ignored bool
	}{
		{"failed_when one of two", StatusChanged, false},
		{"failed_when both", StatusFailed, true},
		{"failed_when stops at the first false", StatusChanged, false},
		{"failed_when single false", StatusChanged, false},
		{"changed_when one of two", StatusOK, false},
		{"changed_when both", StatusChanged, false},
	}
	for _, tc := range tests {
		t.Run(tc.task, func(t *testing.T) {
			e, ok := got[tc.task+"@a"]
			if !ok {
				t.Fatal("no result")
			}
			if e.Status != tc.status || e.Ignored != tc.ignored {
				t.Fatalf("status %s ignored %v (%s), want %s ignored %v", e.Status, e.Ignored, e.Msg, tc.status, tc.ignored)
			}
		})
	}
}

// TestBlockNotify: notify on a block is what its tasks notify unless they
// have their own, as in Ansible.
func TestBlockNotify(t *testing.T) {
	const src = `- hosts: a
  gather_facts: false
  tasks:
    - name: outer
      notify: from block
      block:
        - name: inherits
          command: "true"
        - name: own notify
          command: "true"
          notify: own
        - name: unchanged
          command: "true"
          changed_when: false
      rescue:
        - debug: {msg: unused}
  handlers:
    - name: from block
      debug: {msg: from block}
    - name: own
      debug: {msg: own}
    - name: never
      debug: {msg: never}
`
	evs, out := runSrc(t, src, nil)
	if out.ExitCode() != 0 {
		t.Fatalf("exit %d: %+v", out.ExitCode(), evs)
	}
	var ran []string
	for _, e := range evs {
		if e.Type == EvHostResult && e.Handler {
			ran = append(ran, e.Task)
		}
	}
	if got := strings.Join(ran, ","); got != "from block,own" {
		t.Fatalf("handlers run: %q, want %q", got, "from block,own")
	}
}
