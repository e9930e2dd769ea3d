package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// runSrc runs an inline playbook on the two local hosts of testdata/two.ini.
func runSrc(t *testing.T, src string, extra map[string]any) ([]Event, *Outcome) {
	t.Helper()
	return runSrcOn(t, src, "testdata/two.ini", extra)
}

func runSrcOn(t *testing.T, src, inv string, extra map[string]any) ([]Event, *Outcome) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "play.yml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return runBook(t, path, inv, extra)
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

// TestFlushHandlers: meta: flush_handlers runs the handlers notified so
// far, there, on the hosts that notified them, and forgets those
// notifications; handlers also run after pre_tasks and after tasks, as in
// Ansible. The meta task shows its header and no host line.
func TestFlushHandlers(t *testing.T) {
	const src = `- hosts: all
  gather_facts: false
  pre_tasks:
    - name: pre
      command: "true"
      notify: h
  tasks:
    - name: one
      command: "true"
      notify: h
      when: inventory_hostname == 'a'
    - name: flush
      meta: flush_handlers
    - name: two
      command: "true"
      notify: [h, h2]
    - block:
        - meta: flush_handlers
    - name: nothing notified
      meta: flush_handlers
  post_tasks:
    - name: post
      command: "true"
      notify: h2
  handlers:
    - name: h
      debug: {msg: h}
    - name: h2
      debug: {msg: h2}
`
	evs, out := runSrc(t, src, nil)
	if out.ExitCode() != 0 {
		t.Fatalf("exit %d: %+v", out.ExitCode(), evs)
	}
	// The order of headers and, per header, the hosts that reported.
	var got []string
	for _, e := range evs {
		switch e.Type {
		case EvTaskStart:
			got = append(got, e.Task+":")
		case EvHostResult:
			got[len(got)-1] += e.Host
		}
	}
	for i := range got {
		// Hosts of a task report in any order.
		name, hosts, _ := strings.Cut(got[i], ":")
		b := []byte(hosts)
		sort.Slice(b, func(x, y int) bool { return b[x] < b[y] })
		got[i] = name + ":" + string(b)
	}
	want := []string{"pre:ab", "h:ab", "one:ab", "flush:", "h:a", "two:ab", "meta:", "h:ab", "h2:ab",
		"nothing notified:", "post:ab", "h2:ab"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	for _, s := range out.Stats {
		if s.OK != 9-2*boolInt(s.Host == "b") || s.Skipped != boolInt(s.Host == "b") {
			t.Errorf("%s recap %+v", s.Host, s)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestLoopFlavours: with_items flattens one level and takes a single value
// as one item, as Ansible's; loop and with_list take the list as it is.
func TestLoopFlavours(t *testing.T) {
	const src = `- hosts: a
  gather_facts: false
  vars:
    nested: [[1, 2], [3, [4, 5]], 6]
    word: abc
  tasks:
    - name: with_items literal
      debug: {msg: x}
      with_items: [[a, b], c, [[d]]]
    - name: with_items template
      debug: {msg: x}
      with_items: "{{ nested }}"
    - name: with_items one value
      debug: {msg: x}
      with_items: "{{ word }}"
    - name: with_list
      debug: {msg: x}
      with_list: "{{ nested }}"
    - name: loop
      debug: {msg: x}
      loop: [[a, b], c]
`
	evs, out := runSrc(t, src, nil)
	if out.ExitCode() != 0 {
		t.Fatalf("exit %d: %+v", out.ExitCode(), evs)
	}
	got := map[string][]string{}
	for _, e := range evs {
		if e.Type == EvItemResult {
			got[e.Task] = append(got[e.Task], fmt.Sprint(e.Item))
		}
	}
	tests := []struct {
		task string
		want []string
	}{
		{"with_items literal", []string{"a", "b", "c", "[d]"}},
		{"with_items template", []string{"1", "2", "3", "[4 5]", "6"}},
		{"with_items one value", []string{"abc"}},
		{"with_list", []string{"[1 2]", "[3 [4 5]]", "6"}},
		{"loop", []string{"[a b]", "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.task, func(t *testing.T) {
			if strings.Join(got[tc.task], "|") != strings.Join(tc.want, "|") {
				t.Fatalf("items %q, want %q", got[tc.task], tc.want)
			}
		})
	}
}

// TestLoopNotList: a loop over something that is not a list fails the task
// saying what it got, and for a mapping how to loop over it.
func TestLoopNotList(t *testing.T) {
	tests := []struct {
		name, loop, want string
	}{
		{"mapping", `"{{ d }}"`, `play.yml:8:14: loop: want a list, got a mapping: write "{{ x | dict2items }}" and use item.key, item.value`},
		{"string", `"{{ w }}"`, `play.yml:8:14: loop: want a list, got a string`},
		{"number", `"{{ n }}"`, `play.yml:8:14: loop: want a list, got a number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "- hosts: a\n  gather_facts: false\n  vars:\n    d: {k: 1}\n    w: abc\n    n: 3\n  tasks:\n    - loop: " + tc.loop + "\n      debug: {msg: x}\n"
			evs, out := runSrc(t, src, nil)
			if out.ExitCode() != 2 {
				t.Fatalf("exit %d, want 2: %+v", out.ExitCode(), evs)
			}
			var msgs []string
			for _, e := range evs {
				if e.Type == EvHostResult && e.Status == StatusFailed {
					msgs = append(msgs, e.Msg)
				}
			}
			if len(msgs) != 1 || !strings.HasSuffix(msgs[0], "/"+tc.want) {
				t.Fatalf("failures %q, want one ending %q", msgs, "/"+tc.want)
			}
		})
	}
}

// TestGroupNames: group_names is the host's groups without all, sorted; a
// host in no group is in ungrouped, as ansible-inventory reports it.
func TestGroupNames(t *testing.T) {
	tests := []struct {
		groups map[string][]string
		host   string
		want   string
	}{
		{map[string][]string{"all": {"a", "b"}, "ungrouped": {"a"}, "g": {"b"}}, "a", "[ungrouped]"},
		{map[string][]string{"all": {"a", "b"}, "ungrouped": {"a"}, "g": {"b"}, "f": {"b"}}, "b", "[f g]"},
		{map[string][]string{"all": {"a"}}, "localhost", "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			if got := fmt.Sprint(groupNames(tc.groups, tc.host)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	// And through a run, from the inventory.
	evs, _ := runSrc(t, `- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "{{ group_names | join(',') }}"}
`, nil)
	for _, e := range evs {
		if e.Type == EvHostResult && e.Msg != "ungrouped" {
			t.Errorf("%s: group_names %s, want ungrouped", e.Host, e.Msg)
		}
	}
}

// TestAnyErrorsFatalOnTasksAndBlocks: any_errors_fatal on a task or block
// stops the play for every host when a host fails in it, not for a host
// that failed earlier, and not for a failure its rescue caught.
func TestAnyErrorsFatalOnTasksAndBlocks(t *testing.T) {
	const src = `- hosts: all
  gather_facts: false
  tasks:
    - name: plain failure on a
      command: "false"
      when: inventory_hostname == 'a'
    - name: fine, fatal
      command: "true"
      any_errors_fatal: true
    - name: rescued
      any_errors_fatal: true
      block:
        - name: fails on b, rescued
          command: "false"
          when: inventory_hostname == 'b'
      rescue:
        - debug: {msg: rescued}
    - name: guarded
      any_errors_fatal: true
      block:
        - name: fails on b
          command: "false"
          when: inventory_hostname == 'b'
        - name: not reached
          debug: {msg: x}
    - name: after
      debug: {msg: after}
`
	evs, out := runSrcOn(t, src, "testdata/three.ini", nil)
	if out.ExitCode() != 2 {
		t.Errorf("exit %d, want 2", out.ExitCode())
	}
	var aborts []string
	ran := map[string]int{}
	for _, e := range evs {
		switch e.Type {
		case EvAbort:
			aborts = append(aborts, e.Msg)
		case EvHostResult:
			ran[e.Task]++
		}
	}
	if len(aborts) != 1 || !strings.Contains(aborts[0], `b failed in "fails on b"`) {
		t.Errorf("aborts %q, want one for b in \"fails on b\"", aborts)
	}
	for task, n := range map[string]int{"fine, fatal": 2, "fails on b, rescued": 2, "fails on b": 2, "not reached": 0, "after": 0} {
		if ran[task] != n {
			t.Errorf("%s: %d host results, want %d", task, ran[task], n)
		}
	}
}

// TestTemplatedHandlerNames: notify names and handler names are matched
// after rendering, as Ansible matches them, and as written.
func TestTemplatedHandlerNames(t *testing.T) {
	const src = `- hosts: a
  gather_facts: false
  vars:
    app: shop
  tasks:
    - name: literal notify, templated handler
      command: "true"
      notify: restart shop
    - name: templated notify, literal handler
      command: "true"
      notify: "reload {{ app }}"
    - name: templated on both sides
      command: "true"
      notify: "stop {{ app }}"
  handlers:
    - name: "restart {{ app }}"
      debug: {msg: restarted}
    - name: reload shop
      debug: {msg: reloaded}
    - name: "stop {{ app }}"
      debug: {msg: stopped}
    - name: "never {{ app }}"
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
	if got, want := strings.Join(ran, ","), "restart shop,reload shop,stop shop"; got != want {
		t.Fatalf("handlers run: %q, want %q", got, want)
	}
}
