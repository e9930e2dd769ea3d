package engine

import (
	"context"
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
