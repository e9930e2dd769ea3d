package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"kplay/dsl"
)

// playState is one play while it runs.
type playState struct {
	play *dsl.Play
	// name is the play's name as shown: rendered with the play's variables.
	name  string
	all   []string // every host of the play
	batch []string // the hosts of the current serial batch
	// varsFiles holds the play's vars_files, loaded once.
	varsFiles []map[string]any

	mu      sync.Mutex
	aborted bool // any_errors_fatal or max_fail_percentage stopped the play
	// lists are the running task's host lists, shared by its hosts.
	lists *playLists
}

func (ps *playState) setTaskLists(l *playLists) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.lists = l
}

func (ps *playState) taskLists() *playLists {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.lists
}

func (ps *playState) abort() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.aborted {
		return false
	}
	ps.aborted = true
	return true
}

func (ps *playState) isAborted() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.aborted
}

// inherit is what a block passes down to the tasks inside it.
type inherit struct {
	tags       []string
	when       []*dsl.Expr
	vars       [][]*dsl.Entry // outer blocks first
	env        [][]*dsl.Entry
	become     *bool
	becomeUser string
	ignore     bool
	checkMode  *bool
	noLog      bool
	delegateTo string
	runOnce    bool
	// display is the name the running task is shown with (runTask sets it).
	display string
	// anyErrorsFatal: a block above set any_errors_fatal.
	anyErrorsFatal bool
	// timeout is the innermost block's timeout, for tasks without their own.
	timeout int
	// notify is the innermost block's notify: a task without its own
	// notifies these, as in Ansible (a task's own notify replaces it).
	notify      []string
	rescuable   bool // a failure here is caught by an enclosing rescue
	handler     bool
	handlerName string
}

func (r *runner) run(ctx context.Context) error {
	for _, p := range r.o.Playbook.Plays {
		if ctx.Err() != nil {
			return nil
		}
		stop, err := r.runPlay(ctx, p)
		if err != nil {
			return err
		}
		if stop {
			break
		}
	}
	return nil
}

// playHosts resolves the play's pattern and --limit to host names.
func (r *runner) playHosts(p *dsl.Play) ([]string, error) {
	names, err := r.o.Inventory.Hosts(p.Hosts)
	if err != nil {
		return nil, fmt.Errorf("%s: hosts %q: %w", p.HostsPos, p.Hosts, err)
	}
	if len(names) == 0 && isLocalName(p.Hosts) {
		// Ansible's implicit localhost: usable without an inventory entry.
		names = []string{p.Hosts}
	}
	if r.o.Limit != "" {
		lim, err := r.o.Inventory.Hosts(r.o.Limit)
		if err != nil {
			return nil, fmt.Errorf("--limit %q: %w", r.o.Limit, err)
		}
		in := map[string]bool{}
		for _, n := range lim {
			in[n] = true
		}
		if isLocalName(r.o.Limit) {
			in[r.o.Limit] = true
		}
		var kept []string
		for _, n := range names {
			if in[n] {
				kept = append(kept, n)
			}
		}
		names = kept
	}
	var out []string
	for _, n := range names {
		h := r.host(n)
		h.mu.Lock()
		gone := h.dead || h.unreachable
		h.mu.Unlock()
		if !gone {
			out = append(out, n)
		}
	}
	return out, nil
}

// runPlay runs one play; stop says the playbook must end here (every host
// of a batch failed, or any_errors_fatal / max_fail_percentage fired).
func (r *runner) runPlay(ctx context.Context, p *dsl.Play) (stop bool, err error) {
	names, err := r.playHosts(p)
	if err != nil {
		return true, err
	}
	ps := &playState{play: p, all: names, name: playName(p)}
	if len(names) > 0 {
		if err := r.loadVarsFiles(ps); err != nil {
			r.emit(Event{Type: EvPlayStart, Play: ps.name, Hosts: names, Pos: p.Pos.String()})
			return true, err
		}
	}
	ps.name = r.renderName(r.nameScope(ps, nil, inherit{}, r.o.Check), ps.name)
	r.emit(Event{Type: EvPlayStart, Play: ps.name, Hosts: names, Pos: p.Pos.String()})
	if len(names) == 0 {
		r.emit(Event{Type: EvNoHosts, Play: ps.name, Msg: "skipping: no hosts matched"})
		return false, nil
	}
	searching := !r.started
	for i, batch := range serialBatches(names, p.Serial) {
		if ctx.Err() != nil {
			return true, nil
		}
		if i > 0 && searching && r.started {
			// --start-at-task: every batch of the play starts at the task
			// the first batch started at.
			r.started = false
		}
		ps.batch = batch
		hosts := make([]*hostState, len(batch))
		for i, n := range batch {
			hosts[i] = r.host(n)
			hosts[i].mu.Lock()
			hosts[i].failed = false
			hosts[i].mu.Unlock()
		}
		if p.GatherFacts && r.tagsSelect([]string{"always"}) {
			r.gatherFacts(ctx, ps, hosts)
		}
		inh := inherit{tags: p.Tags, become: p.Become, becomeUser: p.BecomeUser}
		if len(p.Environment) > 0 {
			inh.env = [][]*dsl.Entry{p.Environment}
		}
		// pre_tasks, tasks, post_tasks: handlers notified in each run at its
		// end, as Ansible's implicit flush_handlers does.
		from := 0
		for _, to := range append(append([]int(nil), p.Flushes...), len(p.Tasks)) {
			r.runTasks(ctx, ps, p.Tasks[from:to], hosts, inh)
			from = to
			if ps.isAborted() || ctx.Err() != nil {
				break
			}
			r.runHandlers(ctx, ps, hosts)
		}
		failed := 0
		for _, h := range hosts {
			h.mu.Lock()
			if h.failed || h.unreachable {
				failed++
			}
			if h.failed {
				h.dead = true
			}
			h.mu.Unlock()
		}
		if ps.isAborted() || failed == len(hosts) {
			return true, nil
		}
	}
	return false, nil
}

func playName(p *dsl.Play) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Hosts
}

// serialBatches splits hosts into batches: each Serial entry is one batch
// size, the last one repeating, as Ansible's serial list does.
func serialBatches(hosts []string, serial []dsl.Serial) [][]string {
	if len(serial) == 0 {
		return [][]string{hosts}
	}
	var out [][]string
	i := 0
	for len(hosts) > 0 {
		s := serial[min(i, len(serial)-1)]
		i++
		n := s.Count
		if n <= 0 {
			n = int(float64(len(hosts)+sumLen(out)) * s.Percent / 100)
		}
		n = max(n, 1)
		n = min(n, len(hosts))
		out = append(out, hosts[:n])
		hosts = hosts[n:]
	}
	return out
}

func sumLen(b [][]string) int {
	n := 0
	for _, x := range b {
		n += len(x)
	}
	return n
}

// runTasks runs tasks in order, each on every still-active host of hosts
// before the next starts (Ansible's linear strategy).
func (r *runner) runTasks(ctx context.Context, ps *playState, tasks []*dsl.Task, hosts []*hostState, inh inherit) {
	for _, t := range tasks {
		if ctx.Err() != nil || ps.isAborted() {
			return
		}
		before := failedHosts(hosts)
		switch {
		case t.IsBlock():
			r.runBlock(ctx, ps, t, hosts, inh)
		case t.Module == "meta":
			r.runMeta(ctx, ps, t, hosts, inh)
		default:
			r.runTask(ctx, ps, t, hosts, inh)
		}
		r.checkFailLimits(ps, hosts, inh)
		// any_errors_fatal on a task or block: a host failing in it (and
		// not rescued) stops the play, not a host that failed before.
		if (inh.anyErrorsFatal || t.AnyErrorsFatal) && !inh.rescuable {
			for h := range failedHosts(hosts) {
				if !before[h] {
					if ps.abort() {
						r.emit(Event{Type: EvAbort, Play: ps.name, Msg: fmt.Sprintf("any_errors_fatal: %s failed in %q, stopping the play", h.name, taskName(t))})
					}
					break
				}
			}
		}
	}
}

// failedHosts are the hosts of the batch that have failed or become
// unreachable in this play and are not yet out of it.
func failedHosts(hosts []*hostState) map[*hostState]bool {
	out := map[*hostState]bool{}
	for _, h := range hosts {
		h.mu.Lock()
		if (h.failed || h.unreachable) && !h.dead {
			out[h] = true
		}
		h.mu.Unlock()
	}
	return out
}

// checkFailLimits stops the play when any_errors_fatal or
// max_fail_percentage says so. Failures a rescue may still catch wait for
// the end of their block.
func (r *runner) checkFailLimits(ps *playState, hosts []*hostState, inh inherit) {
	if inh.rescuable {
		return
	}
	failed := 0
	for _, h := range hosts {
		h.mu.Lock()
		if (h.failed || h.unreachable) && !h.dead {
			failed++
		}
		h.mu.Unlock()
	}
	if failed == 0 {
		return
	}
	p := ps.play
	switch {
	case p.AnyErrorsFatal:
		if ps.abort() {
			r.emit(Event{Type: EvAbort, Play: ps.name, Msg: "any_errors_fatal: a host failed, stopping the play"})
		}
	case p.MaxFailPercentage != nil:
		pct := float64(failed) * 100 / float64(len(ps.batch))
		if pct > *p.MaxFailPercentage && ps.abort() {
			r.emit(Event{Type: EvAbort, Play: ps.name,
				Msg: fmt.Sprintf("max_fail_percentage: %d of %d hosts failed (%.0f%% > %g%%), stopping the play", failed, len(ps.batch), pct, *p.MaxFailPercentage)})
		}
	}
}

// runBlock runs block, then rescue on the hosts that failed in it, then
// always on every host that entered it.
func (r *runner) runBlock(ctx context.Context, ps *playState, b *dsl.Task, hosts []*hostState, inh inherit) {
	in := inh.child(b)
	var entered []*hostState
	for _, h := range hosts {
		if h.active() {
			entered = append(entered, h)
		}
	}
	if len(entered) == 0 {
		return
	}
	blockInh := in
	blockInh.rescuable = inh.rescuable || len(b.Rescue) > 0
	r.runTasks(ctx, ps, b.Block, entered, blockInh)

	if len(b.Rescue) > 0 {
		var rescue []*hostState
		for _, h := range entered {
			h.mu.Lock()
			if h.failed && !h.unreachable {
				h.failed = false
				h.stats.Rescued++
				rescue = append(rescue, h)
			}
			h.mu.Unlock()
		}
		if len(rescue) > 0 {
			r.runTasks(ctx, ps, b.Rescue, rescue, in)
		}
	}
	if len(b.Always) > 0 {
		// always runs on hosts that failed too; their failure stands after.
		saved := map[*hostState]bool{}
		var always []*hostState
		for _, h := range entered {
			h.mu.Lock()
			if !h.unreachable {
				saved[h] = h.failed
				h.failed = false
				always = append(always, h)
			}
			h.mu.Unlock()
		}
		r.runTasks(ctx, ps, b.Always, always, in)
		for _, h := range always {
			h.mu.Lock()
			h.failed = h.failed || saved[h]
			h.mu.Unlock()
		}
	}
}

// child adds a block's keywords to what its tasks inherit.
func (inh inherit) child(b *dsl.Task) inherit {
	c := inh
	c.tags = append(append([]string(nil), inh.tags...), b.Tags...)
	c.when = append(append([]*dsl.Expr(nil), inh.when...), b.When...)
	if len(b.Vars) > 0 {
		c.vars = append(append([][]*dsl.Entry(nil), inh.vars...), b.Vars)
	}
	if len(b.Environment) > 0 {
		c.env = append(append([][]*dsl.Entry(nil), inh.env...), b.Environment)
	}
	if b.Become != nil {
		c.become = b.Become
	}
	if b.BecomeUser != "" {
		c.becomeUser = b.BecomeUser
	}
	c.ignore = inh.ignore || b.IgnoreErrors
	if b.CheckMode != nil {
		c.checkMode = b.CheckMode
	}
	c.noLog = inh.noLog || b.NoLog
	if b.DelegateTo != "" {
		c.delegateTo = b.DelegateTo
	}
	c.runOnce = inh.runOnce || b.RunOnce
	if len(b.Notify) > 0 {
		c.notify = b.Notify
	}
	c.anyErrorsFatal = inh.anyErrorsFatal || b.AnyErrorsFatal
	if b.Timeout > 0 {
		c.timeout = b.Timeout
	}
	return c
}

// runHandlers runs, in definition order, each handler on the hosts that
// notified it by name or by one of its listen topics.
func (r *runner) runHandlers(ctx context.Context, ps *playState, hosts []*hostState) {
	defer func() {
		for _, h := range hosts {
			h.clearNotified()
		}
	}()
	for _, hd := range ps.play.Handlers {
		if ctx.Err() != nil {
			return
		}
		keys := append([]string{hd.Name}, hd.Listen...)
		// A handler is also found by its name and topics rendered with the
		// play's variables, as Ansible matches them.
		nsc := r.nameScope(ps, nil, inherit{}, r.o.Check)
		for _, k := range append([]string{hd.Name}, hd.Listen...) {
			if s := r.renderName(nsc, k); s != k {
				keys = append(keys, s)
			}
		}
		var notified []*hostState
		for _, h := range hosts {
			if h.wasNotified(keys) && h.active() {
				notified = append(notified, h)
			}
		}
		if len(notified) == 0 {
			continue
		}
		inh := inherit{tags: ps.play.Tags, become: ps.play.Become, becomeUser: ps.play.BecomeUser, handler: true}
		if len(ps.play.Environment) > 0 {
			inh.env = [][]*dsl.Entry{ps.play.Environment}
		}
		if hd.IsBlock() {
			r.runBlock(ctx, ps, hd, notified, inh)
		} else {
			r.runTask(ctx, ps, hd, notified, inh)
		}
	}
}

// runMeta runs a meta task: flush_handlers runs the handlers the hosts
// have been notified of so far, there, and forgets those notifications (a
// later notify runs a handler again). Like Ansible's, it shows its TASK
// header and no line per host, and counts in no host's recap.
func (r *runner) runMeta(ctx context.Context, ps *playState, t *dsl.Task, hosts []*hostState, inh inherit) {
	if !r.selected(t, inh) {
		return
	}
	active := activeHosts(hosts)
	if len(active) == 0 {
		return
	}
	name := r.renderName(r.nameScope(ps, t, inh, r.o.Check), taskName(t))
	r.emit(Event{Type: EvTaskStart, Play: ps.name, Task: name, Pos: t.Pos.String(), Module: t.Module})
	if t.Meta == "flush_handlers" {
		r.runHandlers(ctx, ps, active)
	}
}

// loadVarsFiles reads the play's vars_files (paths relative to the
// playbook). Templated paths are rendered with extra vars only.
func (r *runner) loadVarsFiles(ps *playState) error {
	for _, v := range ps.play.VarsFiles {
		p, err := evalValue(v, r.o.ExtraVars)
		if err != nil {
			return fmt.Errorf("%s: vars_files: %w", v.Pos, err)
		}
		path := fmt.Sprint(p)
		if !filepath.IsAbs(path) {
			path = filepath.Join(r.playbookDir(), path)
		}
		m, err := loadVarsFile(path)
		if err != nil {
			return fmt.Errorf("%s: vars_files: %w", v.Pos, err)
		}
		ps.varsFiles = append(ps.varsFiles, m)
	}
	return nil
}

func (r *runner) playbookDir() string {
	d, err := filepath.Abs(filepath.Dir(r.o.Playbook.Path))
	if err != nil {
		return filepath.Dir(r.o.Playbook.Path)
	}
	return d
}

// tagsSelect is Ansible's tag rule (Taggable.evaluate_tags): --tags keeps
// tasks with a listed tag, "always" tasks, and everything not tagged
// "never" under "all"; --skip-tags then drops tasks with a listed tag.
func (r *runner) tagsSelect(taskTags []string) bool {
	tags := map[string]bool{}
	for _, t := range taskTags {
		tags[t] = true
	}
	untagged := len(tags) == 0
	if untagged {
		tags["untagged"] = true
	}
	only := r.o.Tags
	if len(only) == 0 {
		only = []string{"all"}
	}
	has := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	meets := func(list []string) bool {
		for _, x := range list {
			if tags[x] {
				return true
			}
		}
		return false
	}
	run := false
	switch {
	case tags["always"]:
		run = true
	case has(only, "all") && !tags["never"]:
		run = true
	case meets(only):
		run = true
	case has(only, "tagged") && !untagged && !tags["never"]:
		run = true
	}
	if run && len(r.o.SkipTags) > 0 {
		skip := r.o.SkipTags
		switch {
		case has(skip, "all"):
			if !tags["always"] || has(skip, "always") {
				run = false
			}
		case meets(skip):
			run = false
		case has(skip, "tagged") && !untagged:
			run = false
		}
	}
	return run
}
