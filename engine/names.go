package engine

import (
	"kplay/dsl"
)

// nameScope holds the variables a play or task name is rendered with, as
// Ansible renders the PLAY and TASK headers: what is the same on every host
// (play vars, vars_files, block and task vars, -e, and the magic variables
// that do not depend on the host). Host variables, facts, registered
// results and loop items are not there: the header is printed once, before
// any host runs the task.
func (r *runner) nameScope(ps *playState, t *dsl.Task, inh inherit, check bool) *scope {
	sc := newScope()
	setEntries(sc, ps.play.Vars)
	for _, m := range ps.varsFiles {
		for k, v := range m {
			sc.setRaw(r.cache, k, v, "vars_files variable "+k)
		}
	}
	for _, es := range inh.vars {
		setEntries(sc, es)
	}
	if t != nil {
		setEntries(sc, t.Vars)
	}
	sc.set("playbook_dir", r.playbookDir())
	sc.set("ansible_check_mode", check)
	sc.set("ansible_diff_mode", r.o.Diff)
	sc.set("omit", omit)
	r.groupsOnce.Do(r.makeGroupVars)
	sc.set("groups", r.groupVars)
	l := r.newPlayLists(ps)
	sc.set("ansible_play_hosts_all", l.all)
	sc.set("ansible_play_batch", l.batch)
	sc.set("play_hosts", l.batch)
	sc.set("ansible_play_hosts", l.alive)
	for k, v := range r.o.ExtraVars {
		sc.setRaw(r.cache, k, v, "extra variable "+k)
	}
	return sc
}

// renderName renders the {{ }} in a play or task name. A name that cannot
// be rendered (a variable undefined here, such as a host's or the loop's)
// is shown as written, as Ansible shows it: a name never fails a run.
func (r *runner) renderName(sc *scope, name string) string {
	if !isTemplate(name) {
		return name
	}
	tm, err := r.cache.tmpl("name", name)
	if err != nil {
		return name
	}
	s, err := sc.render(tm)
	if err != nil {
		return name
	}
	return s
}

// displayName is the task's name as its header showed it.
func displayName(t *dsl.Task, inh inherit) string {
	if inh.display != "" {
		return inh.display
	}
	return taskName(t)
}
