package engine

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"

	"kplay/dsl"
	"kplay/dsl/inventory"
	_ "kplay/modules/all"
	"kplay/transport/local"
)

type testInv struct{ inv *inventory.Inventory }

func (a testInv) Hosts(p string) ([]string, error) {
	hs, err := a.inv.Hosts(p)
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out, err
}
func (a testInv) HostVars(n string) map[string]any { return a.inv.HostVars(n) }
func (a testInv) Groups() map[string][]string      { return a.inv.Groups() }

// runBook runs a playbook from testdata on the local connection and
// returns its events.
func runBook(t *testing.T, book, inv string, extra map[string]any) ([]Event, *Outcome) {
	t.Helper()
	pb, ds := dsl.LoadPlaybook(book, ModuleSchemas())
	if len(ds) > 0 {
		t.Fatalf("parse: %v", ds)
	}
	in, ds := inventory.Load([]string{inv})
	if len(ds) > 0 {
		t.Fatalf("inventory: %v", ds)
	}
	if ds := Check(pb, CheckOptions{Inventory: testInv{in}, InventoryVars: in.VarNames(), ExtraVars: extra}); len(ds) > 0 {
		t.Fatalf("check: %v", ds)
	}
	var mu sync.Mutex
	var evs []Event
	out, err := Run(context.Background(), Options{
		Playbook:  pb,
		Inventory: testInv{in},
		Dialer:    Dialers{"local": local.Dialer{}},
		ExtraVars: extra,
		Events: func(e Event) {
			mu.Lock()
			evs = append(evs, e)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs, out
}

// TestVariablePrecedence: inventory < play vars < vars_files < set_fact and
// register < task vars < loop variable < extra vars; inventory templates
// are rendered when read, with the variables the task sees.
func TestVariablePrecedence(t *testing.T) {
	evs, out := runBook(t, "testdata/precedence.yml", "testdata/precedence.ini", map[string]any{"v_extra": "extra"})
	if out.ExitCode() != 0 {
		t.Fatalf("exit %d: %+v", out.ExitCode(), evs)
	}
	want := map[string]string{
		"show":   "inv play file fact task item extra play-task",
		"use it": "hi 0 false",
	}
	got := map[string]string{}
	for _, e := range evs {
		if e.Type == EvItemResult || (e.Type == EvHostResult && !e.Loop) {
			got[e.Task] = e.Msg
		}
	}
	for task, w := range want {
		t.Run(task, func(t *testing.T) {
			if !strings.Contains(got[task], w) {
				t.Fatalf("%s: msg %q, want %q", task, got[task], w)
			}
		})
	}
}

// TestBlocks: nested blocks, a rescue that catches an inner failure after
// the inner always ran, a rescue that fails itself, and always after it.
func TestBlocks(t *testing.T) {
	evs, out := runBook(t, "testdata/blocks.yml", "testdata/two.ini", nil)
	if out.ExitCode() != 2 {
		t.Errorf("exit %d, want 2", out.ExitCode())
	}
	ran := map[string]Status{}
	for _, e := range evs {
		if e.Type == EvHostResult {
			ran[e.Task+"@"+e.Host] = e.Status
		}
	}
	want := map[string]Status{
		"inner fails on a@a":             StatusFailed,
		"inner fails on a@b":             StatusSkipped,
		"inner always@a":                 StatusOK,
		"inner always@b":                 StatusOK,
		"outer rescue@a":                 StatusOK,
		"fails on b@b":                   StatusFailed,
		"rescue fails too@b":             StatusFailed,
		"always after a failed rescue@a": StatusOK,
		"always after a failed rescue@b": StatusOK,
		"after@a":                        StatusOK,
	}
	for k, w := range want {
		if ran[k] != w {
			t.Errorf("%s: %q, want %q", k, ran[k], w)
		}
	}
	for _, k := range []string{"outer rescue@b", "rescue fails too@a", "after@b"} {
		if _, ok := ran[k]; ok {
			t.Errorf("%s ran", k)
		}
	}
	stats := map[string]HostStats{}
	for _, s := range out.Stats {
		stats[s.Host] = s
	}
	if s := stats["a"]; s.Failed != 0 || s.Rescued != 1 {
		t.Errorf("a: %+v", s)
	}
	if s := stats["b"]; s.Failed != 1 || s.Rescued != 1 {
		t.Errorf("b: %+v", s)
	}
}

// TestGuardedLazyVariables: a lazy variable (hostvars, a templated inventory
// variable) read only under `default` or `is defined` is computed, not taken
// as undefined; one that cannot be computed is undefined there.
func TestGuardedLazyVariables(t *testing.T) {
	evs, out := runBook(t, "testdata/guarded.yml", "testdata/guarded.ini", nil)
	if out.ExitCode() != 0 {
		t.Fatalf("exit %d: %+v", out.ExitCode(), evs)
	}
	got := map[string][]string{}
	for _, e := range evs {
		if e.Type == EvItemResult || (e.Type == EvHostResult && !e.Loop) {
			got[e.Task] = append(got[e.Task], e.Host+": "+e.Msg)
		}
	}
	want := map[string][]string{
		"hostvars under default":                                        {"a: 2 10.0.0.1", "a: 2 b"},
		"default then a plain read":                                     {"a: 10.0.0.1 10.0.0.1"},
		"templated inventory variable under default":                    {"a: a-x", "b: b-x"},
		"guarded in when":                                               {"a: ran", "b: ran"},
		"a variable that cannot be computed is undefined under default": {"a: 10.0.0.1x", "b: fallback"},
		"accumulated":                                                   {"a: 127.0.0.1,10.0.0.1,b", "b: 127.0.0.1,10.0.0.1,b"},
	}
	for task, w := range want {
		t.Run(task, func(t *testing.T) {
			g := append([]string(nil), got[task]...)
			sort.Strings(g)
			if strings.Join(g, "|") != strings.Join(w, "|") {
				t.Fatalf("got %q, want %q", g, w)
			}
		})
	}
}

// TestUntilOnFailedAttempt: when until cannot read a failed attempt's result,
// the message keeps the attempt's own failure.
func TestUntilOnFailedAttempt(t *testing.T) {
	evs, out := runBook(t, "testdata/until_fail.yml", "testdata/two.ini", nil)
	if out.ExitCode() != 2 {
		t.Fatalf("exit %d, want 2", out.ExitCode())
	}
	for _, e := range evs {
		if e.Type == EvHostResult && e.Task == "fails" {
			for _, want := range []string{"rc 2", "until:", "fresh"} {
				if !strings.Contains(e.Msg, want) {
					t.Errorf("msg %q lacks %q", e.Msg, want)
				}
			}
			return
		}
	}
	t.Fatal("no result for the task")
}
