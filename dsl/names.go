package dsl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"kplay/diag"
)

// MagicVars are the variables kplay defines for every host and task.
var MagicVars = []string{
	"inventory_hostname", "inventory_hostname_short", "groups", "group_names", "hostvars",
	"play_hosts", "ansible_play_hosts", "ansible_play_batch", "ansible_check_mode",
	"ansible_diff_mode", "omit", "item", "playbook_dir", "ansible_play_hosts_all", "ansible_loop",
}

// FactVars are the facts gather_facts sets.
var FactVars = []string{
	"ansible_facts", "ansible_hostname", "ansible_fqdn", "ansible_os_family", "ansible_distribution",
	"ansible_architecture", "ansible_default_ipv4", "ansible_all_ipv4_addresses",
	"ansible_nodename", "ansible_system", "ansible_kernel", "ansible_machine",
	"ansible_distribution_version", "ansible_distribution_major_version",
	"ansible_distribution_release", "ansible_all_ipv6_addresses",
}

// CheckNames reports every expression and template that reads a variable
// defined nowhere: not in the play's vars or vars_files, a task's or an
// enclosing block's vars, a register or set_fact name anywhere in the
// playbook, the task's loop variable, the magic variables and facts, nor
// anything defined accepts (the caller's inventory and extra vars names).
// A name tested with `is defined` or `default` in the same expression or
// template, or in the when of the task or an enclosing block, is not
// reported. Templates named by a template task's literal src are read and
// checked too (one that does not parse is left to the caller's check of
// src, which reports it). A play whose vars_files path is templated is not checked:
// its names cannot be known before it runs.
func (pb *Playbook) CheckNames(defined func(name string) bool) diag.Diagnostics {
	return pb.CheckNamesSuggest(defined, nil)
}

// CheckNamesSuggest is CheckNames that also suggests from known, the names
// defined outside the playbook (inventory variables, -e): a typo of a
// group_vars name gets its "did you mean" like a typo of a play var.
func (pb *Playbook) CheckNamesSuggest(defined func(name string) bool, known []string) diag.Diagnostics {
	if defined == nil {
		defined = func(string) bool { return false }
	}
	c := &nameChecker{pb: pb, defined: defined, known: known, global: map[string]bool{}, seen: map[string]bool{}}
	for _, n := range MagicVars {
		c.global[n] = true
	}
	for _, n := range FactVars {
		c.global[n] = true
	}
	for _, p := range pb.Plays {
		collect := func(t *Task) {
			if t.Register != "" {
				c.global[t.Register] = true
			}
			if t.Module == "set_fact" {
				for _, a := range t.Args {
					c.global[a.Key] = true
				}
			}
		}
		walk(p.Tasks, collect)
		walk(p.Handlers, collect)
	}
	for _, p := range pb.Plays {
		c.play(p)
	}
	c.ds.Sort()
	return c.ds
}

type nameChecker struct {
	pb      *Playbook
	defined func(string) bool
	known   []string // names from outside the playbook, for suggestions only
	global  map[string]bool
	ds      diag.Diagnostics
	seen    map[string]bool // reported pos+name, to report each once
}

type nameScope struct {
	names   map[string]bool
	guarded map[string]bool
}

func (s nameScope) with(names []string, guarded []string) nameScope {
	out := nameScope{names: map[string]bool{}, guarded: map[string]bool{}}
	for k := range s.names {
		out.names[k] = true
	}
	for k := range s.guarded {
		out.guarded[k] = true
	}
	for _, n := range names {
		out.names[n] = true
	}
	for _, n := range guarded {
		out.guarded[n] = true
	}
	return out
}

func (c *nameChecker) play(p *Play) {
	sc := nameScope{names: map[string]bool{}, guarded: map[string]bool{}}
	for k := range c.global {
		sc.names[k] = true
	}
	for _, e := range p.Vars {
		sc.names[e.Key] = true
	}
	dir := filepath.Dir(c.pb.Path)
	for _, vf := range p.VarsFiles {
		c.value(vf, sc)
		path, ok := vf.Scalar.(string)
		if vf.Kind != Scalar || !ok {
			return // templated path: the names come at run time
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if _, err := os.Stat(path); err != nil {
			msg := err.Error()
			var pe *os.PathError
			if errors.As(err, &pe) {
				msg = pe.Err.Error()
			}
			c.ds.Addf(vf.Pos, "vars_files: cannot read %s: %s", path, msg)
			return
		}
		entries, ds := LoadVarsEntries(path)
		if len(ds) > 0 {
			c.ds = append(c.ds, ds...)
			return
		}
		for _, e := range entries {
			sc.names[e.Key] = true
		}
	}
	for _, e := range p.Vars {
		c.value(e.Value, sc)
	}
	for _, e := range p.Environment {
		c.value(e.Value, sc)
	}
	for _, t := range p.Tasks {
		c.task(t, sc)
	}
	for _, t := range p.Handlers {
		c.task(t, sc)
	}
}

func (c *nameChecker) task(t *Task, outer nameScope) {
	var names, guarded []string
	for _, e := range t.Vars {
		names = append(names, e.Key)
	}
	if t.Loop != nil {
		names = append(names, t.LoopVar)
	}
	for _, w := range t.When {
		guarded = append(guarded, w.Guarded()...)
	}
	sc := outer.with(names, guarded)
	// The loop is evaluated before the loop variable exists.
	if t.Loop != nil {
		c.value(t.Loop, outer.with(nil, guarded))
	}
	for _, list := range [][]*Expr{t.When, t.ChangedWhen, t.FailedWhen, t.Until, t.argExprs} {
		for _, e := range list {
			c.reads(e.Reads(), sc)
		}
	}
	for _, e := range t.Args {
		c.value(e.Value, sc)
	}
	for _, e := range t.Vars {
		c.value(e.Value, sc)
	}
	for _, e := range t.Environment {
		c.value(e.Value, sc)
	}
	if t.Module == "template" {
		c.templateFile(t, sc)
	}
	for _, list := range [][]*Task{t.Block, t.Rescue, t.Always} {
		for _, child := range list {
			c.task(child, sc)
		}
	}
}

// templateFile checks the template a task renders, found as the engine finds
// it: beside the playbook in templates/, then beside the playbook.
func (c *nameChecker) templateFile(t *Task, sc nameScope) {
	i := argIndex(t.Args, "src")
	if i < 0 || t.Args[i].Value.Kind != Scalar {
		return
	}
	src, _ := t.Args[i].Value.Scalar.(string)
	dir := filepath.Dir(c.pb.Path)
	cands := []string{filepath.Join(dir, "templates", src), filepath.Join(dir, src)}
	if filepath.IsAbs(src) {
		cands = []string{src}
	}
	var path string
	for _, cand := range cands {
		if _, err := os.Stat(cand); err == nil {
			path = cand
			break
		}
	}
	if path == "" {
		return // the engine reports a missing src
	}
	tpl, err := LoadTemplateFile(path)
	if err != nil {
		return // a template that does not parse is the src check's to report
	}
	c.reads(tpl.Reads(), sc)
}

func (c *nameChecker) value(v *Value, sc nameScope) {
	if v != nil {
		c.reads(v.Reads(), sc)
	}
}

func (c *nameChecker) reads(rs []NamePos, sc nameScope) {
	for _, r := range rs {
		if sc.names[r.Name] || sc.guarded[r.Name] || c.defined(r.Name) {
			continue
		}
		key := r.Pos.String() + "\x00" + r.Name
		if c.seen[key] {
			continue
		}
		c.seen[key] = true
		msg := fmt.Sprintf("undefined variable %q", r.Name)
		known := append(make([]string, 0, len(sc.names)+len(c.known)), c.known...)
		for k := range sc.names {
			// Suggest the user's own names: "did you mean omit" for opt
			// helps nobody.
			if !contains(MagicVars, k) && !contains(FactVars, k) {
				known = append(known, k)
			}
		}
		sort.Strings(known)
		if s := diag.Suggest(r.Name, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		c.ds.Addf(r.Pos, "%s", msg)
	}
}
