package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"kplay/diag"
	"kplay/dsl"
	"kplay/modules"
	"kplay/transport"
)

// omit is the value of Ansible's `omit`: an argument rendered to it is left
// out, so `mode: "{{ m | default(omit) }}"` works.
const omit = "__omit_place_holder__"

const hiddenMsg = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"

// result is one task (or one loop item) on one host.
type result struct {
	changed, failed, skipped, unreachable bool
	msg                                   string
	data                                  map[string]any
	diffs                                 []modules.Diff
	facts                                 map[string]any
	attempts                              int
}

func (res *result) status() Status {
	switch {
	case res.unreachable:
		return StatusUnreachable
	case res.failed:
		return StatusFailed
	case res.skipped:
		return StatusSkipped
	case res.changed:
		return StatusChanged
	}
	return StatusOK
}

// registered is the value `register` stores: the module's data plus
// changed, failed, msg, and stdout_lines / stderr_lines.
func (res *result) registered() map[string]any {
	m := make(map[string]any, len(res.data)+6)
	for k, v := range res.data {
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		m[k] = v
	}
	m["changed"] = res.changed
	m["failed"] = res.failed
	if res.msg != "" {
		m["msg"] = res.msg
	}
	if res.skipped {
		m["skipped"] = true
	}
	if res.unreachable {
		m["unreachable"] = true
	}
	if res.attempts > 0 {
		m["attempts"] = res.attempts
	}
	for _, k := range []string{"stdout", "stderr"} {
		if s, ok := m[k].(string); ok {
			if _, has := m[k+"_lines"]; !has {
				m[k+"_lines"] = splitLines(s)
			}
		}
	}
	return m
}

func splitLines(s string) []any {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return []any{}
	}
	parts := strings.Split(s, "\n")
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = strings.TrimSuffix(p, "\r")
	}
	return out
}

func failure(format string, args ...any) *result {
	return &result{failed: true, msg: fmt.Sprintf(format, args...)}
}

func taskName(t *dsl.Task) string {
	if t.Name != "" {
		return t.Name
	}
	if t.IsBlock() {
		return "block"
	}
	return t.Module
}

// runTask runs one task on every active host of hosts, forks at a time.
func (r *runner) runTask(ctx context.Context, ps *playState, t *dsl.Task, hosts []*hostState, inh inherit) {
	if !r.selected(t, inh) {
		return
	}
	active := activeHosts(hosts)
	if len(active) == 0 {
		return
	}
	check := r.o.Check
	if inh.checkMode != nil {
		check = *inh.checkMode
	}
	if t.CheckMode != nil {
		check = *t.CheckMode
	}
	inh.display = r.renderName(r.nameScope(ps, t, inh, check), taskName(t))
	r.emit(Event{Type: EvTaskStart, Play: ps.name, Task: inh.display, Pos: t.Pos.String(), Module: t.Module, Handler: inh.handler})

	targets := active
	runOnce := inh.runOnce || t.RunOnce
	if runOnce {
		targets = active[:1]
	}
	regs := make([]map[string]any, len(targets))
	facts := make([]map[string]any, len(targets))
	ps.setTaskLists(r.newPlayLists(ps))
	defer ps.setTaskLists(nil)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.o.Forks)
	for i, h := range targets {
		g.Go(func() error {
			regs[i], facts[i] = r.runOnHost(gctx, ps, t, inh, h)
			return nil
		})
	}
	g.Wait()
	if runOnce {
		// Ansible gives every host of the batch the result of a run_once task.
		for _, h := range active[1:] {
			if t.Register != "" && regs[0] != nil {
				h.setFacts(map[string]any{t.Register: regs[0]})
			}
			h.setFacts(facts[0])
		}
	}
}

// selected says whether the tags select the task and --start-at-task has
// reached it (it starts the run when it names this task).
func (r *runner) selected(t *dsl.Task, inh inherit) bool {
	if inh.handler {
		return true
	}
	if !r.tagsSelect(append(append([]string(nil), inh.tags...), t.Tags...)) {
		return false
	}
	if !r.started {
		if t.Name != r.o.StartAtTask {
			return false
		}
		r.started = true
	}
	return true
}

// runOnHost runs a task (all its loop items) on one host, records the
// outcome and reports it. It returns what was registered and the facts set,
// for run_once to share.
func (r *runner) runOnHost(ctx context.Context, ps *playState, t *dsl.Task, inh inherit, h *hostState) (map[string]any, map[string]any) {
	noLog := inh.noLog || t.NoLog
	ev := Event{Type: EvHostResult, Task: displayName(t, inh), Pos: t.Pos.String(), Module: t.Module, Host: h.name, Handler: inh.handler, NoLog: noLog}
	delegate := t.DelegateTo
	if delegate == "" {
		delegate = inh.delegateTo
	}
	if delegate != "" {
		ev.Delegated = delegate
	}
	check := r.o.Check
	if inh.checkMode != nil {
		check = *inh.checkMode
	}
	if t.CheckMode != nil {
		check = *t.CheckMode
	}
	sc := r.taskScope(ps, t, inh, h, check)

	var res *result
	var reg map[string]any
	if t.Loop == nil {
		res = r.runItem(ctx, ps, t, inh, h, sc, check, delegate)
		reg = res.registered()
	} else {
		res, reg = r.runLoop(ctx, ps, t, inh, h, sc, check, delegate, ev)
	}

	ignored := res.failed && !res.unreachable && (inh.ignore || t.IgnoreErrors)
	// A task cut short by Ctrl-C did not fail on its own: it is reported,
	// but the recap does not count it against the host.
	interrupted := ctx.Err() != nil && res.failed
	if interrupted {
		res.unreachable = false
		if !strings.HasPrefix(res.msg, "interrupted") {
			res.msg = "interrupted: " + res.msg
		}
	}
	h.mu.Lock()
	st := &h.stats
	switch {
	case interrupted:
		h.failed = true
	case res.unreachable:
		st.Unreachable++
		h.unreachable = true
	case res.failed && ignored:
		st.OK++
		st.Ignored++
		if res.changed {
			st.Changed++
		}
	case res.failed && inh.rescuable:
		// Counted as rescued when the block's rescue takes the host.
		h.failed = true
	case res.failed:
		st.Failed++
		h.failed = true
	case res.skipped:
		st.Skipped++
	default:
		st.OK++
		if res.changed {
			st.Changed++
		}
	}
	h.mu.Unlock()

	notify := t.Notify
	if len(notify) == 0 {
		notify = inh.notify
	}
	if !res.failed && !res.unreachable && res.changed && len(notify) > 0 {
		// Both as written and rendered, as handler names are matched: Ansible
		// renders both sides, and kplay keeps the written form when a name
		// cannot be rendered.
		names := append([]string(nil), notify...)
		for _, n := range notify {
			if s := r.renderName(sc, n); s != n {
				names = append(names, s)
			}
		}
		h.notify(names)
	}
	if t.Register != "" && !res.unreachable {
		h.setFacts(map[string]any{t.Register: reg})
	}
	if t.Loop == nil || res.failed || res.unreachable {
		ev.Status = res.status()
		ev.Interrupted = interrupted
		ev.Ignored = ignored
		ev.Rescued = res.failed && !ignored && inh.rescuable
		ev.Check = check
		r.fillEvent(&ev, res, reg, noLog)
		if t.Loop != nil {
			ev.Loop = true
			ev.Diffs = nil // each item showed its own
			if res.failed && !res.unreachable && ev.Msg == "" {
				ev.Msg = "one or more items failed"
			}
		}
		r.emit(ev)
	} else {
		// A loop's per-item lines have been shown; the task line carries the
		// summary only.
		ev.Status = res.status()
		ev.Check = check
		ev.Result = nil
		if !noLog {
			ev.Result = reg
		}
		ev.Loop = true
		r.emit(ev)
	}
	var facts map[string]any
	if res.facts != nil {
		facts = res.facts
	}
	return reg, facts
}

// fillEvent copies a result into an event, hiding it under no_log.
func (r *runner) fillEvent(ev *Event, res *result, reg map[string]any, noLog bool) {
	if noLog {
		if res.failed || res.unreachable || res.msg != "" {
			ev.Msg = hiddenMsg
		}
		if r.o.Diff && res.changed {
			for _, d := range res.diffs {
				ev.Diffs = append(ev.Diffs, Diff{Path: d.Path, Secret: true})
			}
		}
		return
	}
	ev.Msg = res.msg
	if rc, ok := res.data["rc"].(int); ok {
		ev.RC = &rc
	}
	ev.Stdout = asString(res.data["stdout"])
	ev.Stderr = asString(res.data["stderr"])
	ev.Cmd = asString(res.data["cmd"])
	ev.Result = reg
	if r.o.Diff && res.changed {
		for _, d := range res.diffs {
			if d.Secret {
				ev.Diffs = append(ev.Diffs, Diff{Path: d.Path, Secret: true})
			} else {
				ev.Diffs = append(ev.Diffs, Diff{Path: d.Path, Before: d.Before, After: d.After})
			}
		}
	}
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = asString(p)
		}
		return strings.Join(parts, " ")
	case []string:
		return strings.Join(x, " ")
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// runLoop runs every item; the registered value holds one result per item
// under `results`, as Ansible's does.
func (r *runner) runLoop(ctx context.Context, ps *playState, t *dsl.Task, inh inherit, h *hostState, sc *scope, check bool, delegate string, base Event) (*result, map[string]any) {
	v, err := sc.evalValue(t.Loop)
	if err != nil {
		res := failure("%s: loop: %v", t.Loop.Pos, err)
		return res, res.registered()
	}
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
		if t.WithItems {
			items = flattenOnce(x)
		}
	case nil:
	default:
		if t.WithItems {
			// Ansible's with_items takes one value as a list of one.
			items = []any{x}
			break
		}
		res := failure("%s: loop: %s", t.Loop.Pos, loopNotList(v))
		return res, res.registered()
	}
	loopVar := t.LoopVar
	if loopVar == "" {
		loopVar = "item"
	}
	noLog := inh.noLog || t.NoLog
	agg := &result{skipped: len(items) > 0}
	var results []any
	for i, item := range items {
		if ctx.Err() != nil {
			agg.failed = true
			agg.msg = "interrupted"
			break
		}
		isc := sc.clone()
		isc.set(loopVar, item)
		isc.set("ansible_loop", map[string]any{"index": i + 1, "index0": i, "first": i == 0, "last": i == len(items)-1, "length": len(items)})
		res := r.runItem(ctx, ps, t, inh, h, isc, check, delegate)
		reg := res.registered()
		reg[loopVar] = item
		if loopVar != "item" {
			reg["item"] = item
		}
		results = append(results, reg)
		agg.changed = agg.changed || res.changed
		agg.failed = agg.failed || res.failed
		agg.unreachable = agg.unreachable || res.unreachable
		agg.skipped = agg.skipped && res.skipped
		agg.diffs = append(agg.diffs, res.diffs...)
		if res.facts != nil {
			if agg.facts == nil {
				agg.facts = map[string]any{}
			}
			for k, v := range res.facts {
				agg.facts[k] = v
				// The next item sees this item's facts, as in Ansible:
				// `x: "{{ x | default([]) + [item] }}"` accumulates.
				if !res.failed {
					sc.set(k, v)
				}
			}
		}
		ev := base
		ev.Type = EvItemResult
		ev.Status = res.status()
		ev.Check = check
		ev.Item = item
		if noLog {
			ev.Item = "(censored due to no_log)"
		}
		ev.Ignored = res.failed && (inh.ignore || t.IgnoreErrors)
		r.fillEvent(&ev, res, reg, noLog)
		r.emit(ev)
		if res.unreachable {
			agg.msg = res.msg
			break
		}
	}
	if results == nil {
		results = []any{}
	}
	out := agg.registered()
	out["results"] = results
	if !agg.failed {
		out["msg"] = "All items completed"
	}
	return agg, out
}

// flattenOnce is with_items' list: items that are lists give their
// elements, one level down only, as Ansible's items lookup does.
func flattenOnce(xs []any) []any {
	out := make([]any, 0, len(xs))
	for _, x := range xs {
		if l, ok := x.([]any); ok {
			out = append(out, l...)
			continue
		}
		out = append(out, x)
	}
	return out
}

// runItem runs the task once (one loop item, or the task without a loop):
// when, then the module with retries, then changed_when / failed_when.
func (r *runner) runItem(ctx context.Context, ps *playState, t *dsl.Task, inh inherit, h *hostState, sc *scope, check bool, delegate string) *result {
	for _, w := range append(append([]*dsl.Expr(nil), inh.when...), t.When...) {
		ok, err := sc.evalBool(w)
		if err != nil {
			return failure("%s: when: %v", w.Pos, err)
		}
		if !ok {
			return &result{skipped: true, data: map[string]any{"skip_reason": "Conditional result was False", "false_condition": w.Src}}
		}
	}
	m, ok := modules.Lookup(t.Module)
	if !ok {
		return failure("%s: unknown module %q", t.ModulePos, t.Module)
	}
	info := m.Info()
	raw := map[string]any{}
	for _, e := range t.Args {
		v, err := sc.evalValue(e.Value)
		if err != nil {
			return failure("%s: %v", e.Key, err)
		}
		if s, ok := v.(string); ok && s == omit {
			continue
		}
		raw[e.Key] = v
	}
	args, errs := modules.Normalize(info, raw)
	if len(errs) > 0 {
		return failure("%s: %v", t.ModulePos, errors.Join(errs...))
	}
	if c, ok := m.(modules.ArgsChecker); ok {
		if err := c.CheckArgs(args); err != nil {
			return failure("%s: %v", t.ModulePos, err)
		}
	}

	local, lerr := r.local.get(ctx, r.o.Dialer)
	var conn transport.Conn
	var cerr error
	if delegate != "" || info.RunsOn == modules.OnController {
		if delegate != "" && !isLocalName(delegate) {
			return failure("%s: delegate_to %q: only localhost is supported", t.Pos, delegate)
		}
		conn, cerr = local, lerr
	} else {
		conn, cerr = r.hostConn(ctx, h, sc)
	}
	if cerr != nil {
		if ctx.Err() != nil {
			return failure("interrupted")
		}
		return &result{unreachable: true, failed: true, msg: cerr.Error()}
	}
	env, err := r.taskEnv(sc, t, inh)
	if err != nil {
		return failure("%v", err)
	}
	call := &modules.Call{
		Host:  h.name,
		Conn:  conn,
		Local: local,
		Args:  args,
		Check: check,
		Diff:  r.o.Diff,
		Opts:  r.becomeOpts(sc, t, inh),
		Env:   env,
		Vars:  sc.all("hostvars"),
		Render: func(name string, text []byte) (string, error) {
			tm, err := r.cache.tmpl(name, string(text))
			if err != nil {
				return "", err
			}
			return sc.render(tm)
		},
		Eval: func(src string) (any, error) {
			e, err := r.cache.expr(src, t.ModulePos)
			if err != nil {
				return nil, err
			}
			return sc.evalExpr(e)
		},
		Dir:   r.playbookDir(),
		Hosts: r.hostRefs(),
		Progress: func(msg string) {
			r.emit(Event{Type: EvProgress, Task: displayName(t, inh), Host: h.name, Msg: msg})
		},
		NoLog:     inh.noLog || t.NoLog,
		Verbosity: r.o.Verbosity,
	}

	attempts := 1
	if len(t.Until) > 0 {
		attempts = max(t.Retries, 0) + 1
	}
	var res *result
	for a := 1; ; a++ {
		res = r.timedAttempt(ctx, t, inh, m, call, check)
		if res.unreachable {
			return res
		}
		if len(t.Until) > 0 {
			res.attempts = a
		}
		r.applyConditions(t, sc, res)
		if len(t.Until) == 0 || res.skipped {
			break
		}
		done := true
		sc.set(registerName(t), res.registered())
		for _, u := range t.Until {
			ok, err := sc.evalBool(u)
			if err != nil {
				// A failed attempt's result rarely has what until reads:
				// say why the attempt failed, not only that until could not
				// read it.
				msg := fmt.Sprintf("%s: until: %v", u.Pos, err)
				if res.failed && res.msg != "" {
					msg = res.msg + " (" + msg + ")"
				}
				res.failed = true
				res.msg = msg
				return res
			}
			done = done && ok
		}
		if done {
			break
		}
		if a >= attempts {
			res.failed = true
			if res.msg == "" {
				res.msg = fmt.Sprintf("until condition not met after %d attempts", a)
			}
			break
		}
		r.emit(Event{Type: EvProgress, Task: displayName(t, inh), Host: h.name, Attempt: a, Attempts: attempts,
			Msg: fmt.Sprintf("FAILED - RETRYING: [%s]: %s (%d retries left).", h.name, displayName(t, inh), attempts-a)})
		delay := time.Duration(t.Delay * float64(time.Second))
		if delay > 0 {
			tm := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				tm.Stop()
				res.failed = true
				res.msg = "interrupted while waiting to retry"
				return res
			case <-tm.C:
			}
		}
	}
	if res.facts != nil && !res.failed {
		h.setFacts(res.facts)
	}
	return res
}

func registerName(t *dsl.Task) string {
	if t.Register != "" {
		return t.Register
	}
	return "result"
}

// applyConditions applies changed_when and failed_when. Both see the
// task's result under its register name, as in Ansible.
func (r *runner) applyConditions(t *dsl.Task, sc *scope, res *result) {
	if res.skipped || res.unreachable || (len(t.ChangedWhen) == 0 && len(t.FailedWhen) == 0) {
		return
	}
	sc.set(registerName(t), res.registered())
	if len(t.ChangedWhen) > 0 {
		changed := true
		for _, e := range t.ChangedWhen {
			ok, err := sc.evalBool(e)
			if err != nil {
				res.failed = true
				res.msg = fmt.Sprintf("%s: changed_when: %v", e.Pos, err)
				return
			}
			if !ok {
				changed = false
				break
			}
		}
		res.changed = changed
	}
	if len(t.FailedWhen) > 0 {
		// A list is a conjunction, as every Ansible conditional list is: the
		// task fails only when all of them hold. Evaluation stops at the
		// first false one, as Ansible's does, so a later condition may
		// rely on an earlier one (`[r.rc is defined, r.rc != 0]`).
		failed := true
		for _, e := range t.FailedWhen {
			ok, err := sc.evalBool(e)
			if err != nil {
				res.failed = true
				res.msg = fmt.Sprintf("%s: failed_when: %v", e.Pos, err)
				return
			}
			if !ok {
				failed = false
				break
			}
		}
		res.failed = failed
		if failed && res.msg == "" {
			res.msg = "failed_when condition is true"
		}
	}
}

// timedAttempt is attempt under the task's timeout (its own, else its
// block's), if it has one. When the time is up, the context stops the
// module's command on the host (the transport ends it there) and the task
// fails with Ansible's words.
func (r *runner) timedAttempt(ctx context.Context, t *dsl.Task, inh inherit, m modules.Module, call *modules.Call, check bool) *result {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = inh.timeout
	}
	if timeout <= 0 {
		return r.attempt(ctx, m, call, check)
	}
	actx, cancel := context.WithTimeout(ctx, time.Duration(timeout)*time.Second)
	defer cancel()
	res := r.attempt(actx, m, call, check)
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return failure("The %s action failed to execute in the expected time frame (%d) and was terminated", t.Module, timeout)
	}
	return res
}

// attempt plans the task and, outside check mode, applies the plan.
func (r *runner) attempt(ctx context.Context, m modules.Module, call *modules.Call, check bool) *result {
	plan, err := m.Plan(ctx, call)
	if err != nil {
		if transport.IsUnreachable(err) {
			return &result{unreachable: true, failed: true, msg: err.Error()}
		}
		return failure("%v", err)
	}
	if plan == nil {
		return failure("module %s returned no plan", m.Info().Name)
	}
	if plan.Skipped != "" {
		// The module itself says skip (debug above the run's verbosity).
		return &result{skipped: true, msg: plan.Skipped, data: map[string]any{"skip_reason": plan.Skipped}}
	}
	res := &result{changed: plan.Changed, failed: plan.Failed, msg: plan.Msg, data: plan.Data, diffs: plan.Diffs, facts: plan.Facts}
	if plan.Failed {
		return res
	}
	if check {
		if plan.SkipInCheck != "" {
			return &result{skipped: true, msg: plan.SkipInCheck, data: map[string]any{"skip_reason": plan.SkipInCheck}}
		}
		return res
	}
	if plan.Apply == nil {
		return res
	}
	ar, err := plan.Apply(ctx)
	if err != nil {
		if transport.IsUnreachable(err) {
			return &result{unreachable: true, failed: true, msg: err.Error()}
		}
		res.failed = true
		res.msg = err.Error()
		return res
	}
	if ar == nil {
		return res
	}
	res.changed = ar.Changed
	res.failed = ar.Failed
	// The plan's message says what would happen; once applied, only what
	// did happen is reported.
	res.msg = ar.Msg
	if ar.Data != nil {
		merged := make(map[string]any, len(res.data)+len(ar.Data))
		for k, v := range res.data {
			merged[k] = v
		}
		for k, v := range ar.Data {
			merged[k] = v
		}
		res.data = merged
	}
	if ar.Facts != nil {
		res.facts = ar.Facts
	}
	if ar.Diffs != nil {
		res.diffs = ar.Diffs
	}
	return res
}

// hostConn opens (once) the connection to the host. The spec is built
// outside the host's lock: rendering its variables may read hostvars,
// which takes every host's lock.
func (r *runner) hostConn(ctx context.Context, h *hostState, sc *scope) (transport.Conn, error) {
	h.mu.Lock()
	slot := h.conn
	h.mu.Unlock()
	if slot == nil {
		get := func(k string) (any, bool) {
			if err := sc.resolve([]string{k}); err != nil {
				return nil, false
			}
			sc.mu.Lock()
			defer sc.mu.Unlock()
			v, ok := sc.vals[k]
			return v, ok
		}
		spec, err := hostSpec(h.name, get)
		if err != nil {
			return nil, &transport.UnreachableError{Host: h.name, Err: err}
		}
		for k := range h.invVars {
			if v, ok := get(k); ok {
				spec.Vars[k] = v
			}
		}
		h.mu.Lock()
		if h.conn == nil {
			h.conn = &connSlot{spec: spec}
		}
		slot = h.conn
		h.mu.Unlock()
	}
	return slot.get(ctx, r.o.Dialer)
}

// becomeOpts: the task's become, else its block's or play's, else the
// inventory's ansible_become, else -b.
func (r *runner) becomeOpts(sc *scope, t *dsl.Task, inh inherit) transport.Options {
	get := func(k string) any {
		if sc.resolve([]string{k}) != nil {
			return nil
		}
		sc.mu.Lock()
		defer sc.mu.Unlock()
		return sc.vals[k]
	}
	var o transport.Options
	switch {
	case t.Become != nil:
		o.Become = *t.Become
	case inh.become != nil:
		o.Become = *inh.become
	default:
		if b, ok := truthy(get("ansible_become")); ok && get("ansible_become") != nil {
			o.Become = b
		} else {
			o.Become = r.o.Become
		}
	}
	o.BecomeUser = firstNonEmpty(t.BecomeUser, inh.becomeUser, asString(get("ansible_become_user")))
	if o.Become && o.BecomeUser == "" {
		o.BecomeUser = "root"
	}
	return o
}

// taskEnv renders the play's, blocks' and task's environment, inner last.
func (r *runner) taskEnv(sc *scope, t *dsl.Task, inh inherit) (map[string]string, error) {
	lists := inh.env
	if len(t.Environment) > 0 {
		lists = append(append([][]*dsl.Entry(nil), lists...), t.Environment)
	}
	if len(lists) == 0 {
		return nil, nil
	}
	env := map[string]string{}
	for _, l := range lists {
		for _, e := range l {
			v, err := sc.evalValue(e.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: environment %s: %w", e.Value.Pos, e.Key, err)
			}
			env[e.Key] = asString(v)
		}
	}
	return env, nil
}

// taskScope builds the variables a task sees on a host, lowest precedence
// first: inventory, play vars, vars_files, registered and set_fact, block and
// task vars, the magic variables, extra vars.
func (r *runner) taskScope(ps *playState, t *dsl.Task, inh inherit, h *hostState, check bool) *scope {
	sc := newScope()
	for k, v := range h.invVars {
		sc.setRaw(r.cache, k, v, "inventory variable "+k+" of "+h.name)
	}
	setEntries(sc, ps.play.Vars)
	for _, m := range ps.varsFiles {
		for k, v := range m {
			sc.setRaw(r.cache, k, v, "vars_files variable "+k)
		}
	}
	for k, v := range h.factsCopy() {
		sc.set(k, v)
	}
	for _, es := range inh.vars {
		setEntries(sc, es)
	}
	if t != nil {
		setEntries(sc, t.Vars)
	}
	r.setMagic(sc, ps, h, check)
	for k, v := range r.o.ExtraVars {
		sc.setRaw(r.cache, k, v, "extra variable "+k)
	}
	return sc
}

func setEntries(sc *scope, es []*dsl.Entry) {
	for _, e := range es {
		if l := lazyValue(e.Value); l != nil {
			sc.setLazy(e.Key, l)
			continue
		}
		v, _ := evalValue(e.Value, nil)
		sc.set(e.Key, v)
	}
}

func (r *runner) setMagic(sc *scope, ps *playState, h *hostState, check bool) {
	sc.set("inventory_hostname", h.name)
	short, _, _ := strings.Cut(h.name, ".")
	sc.set("inventory_hostname_short", short)
	sc.set("playbook_dir", r.playbookDir())
	sc.set("ansible_check_mode", check)
	sc.set("ansible_diff_mode", r.o.Diff)
	sc.set("omit", omit)
	if ps != nil {
		l := ps.taskLists()
		if l == nil {
			l = r.newPlayLists(ps)
		}
		sc.set("ansible_play_hosts_all", l.all)
		sc.set("ansible_play_batch", l.batch)
		sc.set("play_hosts", l.batch)
		sc.set("ansible_play_hosts", l.alive)
	}
	r.groupsOnce.Do(r.makeGroupVars)
	sc.set("groups", r.groupVars)
	sc.set("group_names", r.hostGroupNames(h.name))
	sc.setLazy("hostvars", &lazyVal{eval: func(map[string]any) (any, error) { return r.hostvars(ps, check), nil }})
}

// hostvars is every inventory host's variables, templates rendered where
// they can be, plus what each host registered and gathered so far.
func (r *runner) hostvars(ps *playState, check bool) map[string]any {
	out := map[string]any{}
	for _, n := range r.allHosts() {
		h := r.host(n)
		sc := newScope()
		for k, v := range h.invVars {
			sc.setRaw(r.cache, k, v, "inventory variable "+k+" of "+n)
		}
		if ps != nil {
			setEntries(sc, ps.play.Vars)
		}
		for k, v := range h.factsCopy() {
			sc.set(k, v)
		}
		sc.set("inventory_hostname", n)
		short, _, _ := strings.Cut(n, ".")
		sc.set("inventory_hostname_short", short)
		sc.set("ansible_check_mode", check)
		sc.set("group_names", r.hostGroupNames(n))
		sc.set("omit", omit)
		for k, v := range r.o.ExtraVars {
			sc.set(k, v)
		}
		out[n] = sc.all()
	}
	return out
}

// allHosts is every inventory host, plus hosts the run made up (the
// implicit localhost).
func (r *runner) allHosts() []string {
	all := append([]string(nil), r.groups["all"]...)
	if len(all) == 0 {
		for _, hs := range r.groups {
			all = append(all, hs...)
		}
		sort.Strings(all)
		all = dedupe(all)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.order {
		if !slices.Contains(all, n) {
			all = append(all, n)
		}
	}
	return all
}

func dedupe(s []string) []string {
	var out []string
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// hostRefs lists inventory hosts with their addresses, for Call.Hosts.
func (r *runner) hostRefs() []modules.HostRef {
	r.refsOnce.Do(func() {
		for _, n := range r.allHosts() {
			addr := n
			vars := r.o.Inventory.HostVars(n)
			if a, ok := vars["ansible_host"].(string); ok && a != "" && !isTemplate(a) {
				addr = a
			}
			r.refs = append(r.refs, modules.HostRef{Name: n, Address: addr})
		}
	})
	return r.refs
}

// playLists are the play's host lists as variables. Every host of a task
// gets the same ones, built when the task starts: building them for each
// host was O(hosts²) work and allocation per task. They are shared, so
// nothing may modify them (no code modifies a variable's value in place:
// filters such as sort copy).
type playLists struct {
	all, batch, alive []any
}

// newPlayLists builds the lists from the hosts' state now.
func (r *runner) newPlayLists(ps *playState) *playLists {
	var alive []string
	for _, n := range ps.all {
		if r.host(n).active() {
			alive = append(alive, n)
		}
	}
	return &playLists{all: strList(ps.all), batch: strList(ps.batch), alive: strList(alive)}
}

// makeGroupVars builds groups and each host's group_names once per run:
// the inventory's groups do not change during a run.
func (r *runner) makeGroupVars() {
	r.groupVars = make(map[string]any, len(r.groups))
	for g, hs := range r.groups {
		r.groupVars[g] = strList(hs)
	}
	r.groupNames = groupNamesByHost(r.groups)
}

// hostGroupNames is group_names for a host (groupNames).
func (r *runner) hostGroupNames(h string) []any {
	r.groupsOnce.Do(r.makeGroupVars)
	if gn, ok := r.groupNames[h]; ok {
		return gn
	}
	return []any{}
}

// groupNamesByHost is group_names for every host of groups, as Ansible's:
// the groups it is in, sorted, without all (a host of no other group is
// in ungrouped).
func groupNamesByHost(groups map[string][]string) map[string][]any {
	names := map[string][]string{}
	for g, hs := range groups {
		if g == "all" {
			continue
		}
		for _, h := range hs {
			names[h] = append(names[h], g)
		}
	}
	out := make(map[string][]any, len(names))
	for h, gs := range names {
		slices.Sort(gs)
		out[h] = strList(slices.Compact(gs))
	}
	return out
}

// groupNames is one host's group_names; empty, not nil, for a host in no
// group (localhost when the inventory does not list it).
func groupNames(groups map[string][]string, host string) []any {
	if gn, ok := groupNamesByHost(groups)[host]; ok {
		return gn
	}
	return []any{}
}

func strList(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// loopNotList says what a loop got instead of a list in the user's words,
// and for a mapping how to loop over it (language.md promises the hint).
func loopNotList(v any) string {
	switch v.(type) {
	case map[string]any:
		return `want a list, got a mapping: write "{{ x | dict2items }}" and use item.key, item.value`
	}
	return "want a list, got " + diag.TypeName(v)
}
