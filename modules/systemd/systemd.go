// Package systemd is the systemd module: start, stop, restart, reload,
// enable, mask a unit and reload systemd's configuration, with the argument
// names of ansible.builtin.systemd_service. It reads the unit with
// `systemctl show` first, so check mode knows what would change.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"kplay/internal/shellarg"
	"kplay/modules"
	"kplay/transport"
)

func init() { modules.Register(Module{}) }

// Module implements systemd.
type Module struct{}

var (
	_ modules.Module      = Module{}
	_ modules.ArgsChecker = Module{}
)

// Properties read with `systemctl show`; the first five are registered at
// the top level of the result, all of them under status.
var properties = []string{"ActiveState", "SubState", "UnitFileState", "LoadState", "NeedDaemonReload",
	"Id", "Description", "MainPID", "Result", "ExecMainStatus", "FragmentPath", "CanReload"}

// Info documents the module for `kplay doc`.
func (Module) Info() modules.Info {
	return modules.Info{
		Name:    "systemd",
		Summary: "Start, stop, restart, reload, enable or mask a systemd unit; reload systemd",
		Doc: `Manages a unit with systemctl on the host, with the argument names of
ansible.builtin.systemd_service. It reads the unit first (systemctl show:
ActiveState, SubState, UnitFileState, LoadState, NeedDaemonReload) and runs only
what is needed, so changed is true only when something changed.

Order: daemon_reload, then mask or unmask, then enable or disable, then state.
started starts an inactive or failed unit; stopped stops an active one; restarted
and reloaded always act (reloaded starts a stopped unit). daemon_reload counts as
a change only when systemd reported that the unit's files changed
(NeedDaemonReload).

After a start, restart or reload the unit is watched for settle: if it fails, or
systemd is restarting it after a failure, the task fails with the last
journal_lines lines of journalctl -u NAME in the message.

The unit name is checked against systemd's rules (letters, digits and :-_.\@)
and passed to systemctl as one quoted word after --, never as shell text. A name
without a type suffix means NAME.service, as for systemctl.`,
		CheckMode: "reads the unit and reports what it would run, changing nothing (daemon-reload included)",
		Returns: `name; ActiveState, SubState, UnitFileState, LoadState, NeedDaemonReload (after the
task); enabled (bool); status (every property read); commands (the systemctl commands
run or, in check mode, that would run); journal (lines, when a start failed)`,
		Args: []modules.Arg{
			{Name: "name", Type: modules.String, Aliases: []string{"service", "unit"},
				Doc: "unit name, e.g. kube-controller-manager or kube-controller-manager.service"},
			{Name: "state", Type: modules.String, Choices: []string{"started", "stopped", "restarted", "reloaded"},
				Doc: "started and stopped act when needed; restarted and reloaded always"},
			{Name: "enabled", Type: modules.Bool, Doc: "start at boot (systemctl enable) or not (disable)"},
			{Name: "masked", Type: modules.Bool, Doc: "mask the unit so nothing can start it, or unmask it"},
			{Name: "daemon_reload", Type: modules.Bool, Default: false, Aliases: []string{"daemon-reload"},
				Doc: "run systemctl daemon-reload first, to read changed unit files"},
			{Name: "settle", Type: modules.Duration, Default: 1,
				Doc: "after a start, restart or reload, watch the unit this long for a failure"},
			{Name: "journal_lines", Type: modules.Int, Default: 20,
				Doc: "journal lines shown when a start fails"},
		},
	}
}

// unitName follows systemd's unit name rules (systemd.unit(5)): ASCII
// letters, digits, ":", "-", "_", ".", "\" and "@", at most 255 characters,
// with a type suffix. A leading "-" would read as an option.
var unitName = regexp.MustCompile(`^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*$`)

var unitTypes = []string{"service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer", "slice", "scope"}

// CanonicalName validates a unit name and adds .service when it has no
// type suffix, as systemctl does.
func CanonicalName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty unit name")
	}
	if len(name) > 255 || !unitName.MatchString(name) {
		return "", fmt.Errorf("unit name %q: systemd allows only letters, digits and :-_.\\@ (at most 255, not starting with -)", name)
	}
	if i := strings.LastIndex(name, "."); i > 0 && slices.Contains(unitTypes, name[i+1:]) {
		if strings.HasSuffix(name[:i], "@") {
			return "", fmt.Errorf("unit name %q is a template: name an instance, e.g. %sNAME.%s", name, name[:i], name[i+1:])
		}
		return name, nil
	}
	if strings.HasSuffix(name, "@") {
		return "", fmt.Errorf("unit name %q is a template: name an instance", name)
	}
	if len(name)+len(".service") > 255 {
		return "", fmt.Errorf("unit name %q is too long", name)
	}
	return name + ".service", nil
}

// CheckArgs checks the unit name and that the task asks for something.
func (Module) CheckArgs(a modules.Args) error {
	name := a.Str("name")
	asks := a.Has("state") || a.Has("enabled") || a.Has("masked")
	switch {
	case name == "" && asks:
		return errors.New("systemd: state, enabled and masked need name")
	case name == "" && !a.Bool("daemon_reload"):
		return errors.New("systemd: give name (with state, enabled or masked) or daemon_reload")
	case name != "" && !asks && !a.Bool("daemon_reload"):
		return errors.New("systemd: name alone does nothing: add state, enabled, masked or daemon_reload")
	case a.Bool("masked") && a.Has("enabled") && a.Bool("enabled"):
		return errors.New("systemd: a masked unit cannot be enabled")
	case a.Bool("masked") && (a.Str("state") == "started" || a.Str("state") == "restarted" || a.Str("state") == "reloaded"):
		return fmt.Errorf("systemd: a masked unit cannot be %s", a.Str("state"))
	case a.Dur("settle") < 0 || a.Int("journal_lines") < 0:
		return errors.New("systemd: settle and journal_lines must not be negative")
	}
	if name != "" {
		if _, err := CanonicalName(name); err != nil {
			return fmt.Errorf("systemd: %w", err)
		}
	}
	return nil
}

// ParseShow reads `systemctl show` output: KEY=VALUE lines.
func ParseShow(out string) (map[string]string, error) {
	props := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("systemctl show: line %q is not KEY=VALUE", line)
		}
		props[k] = v
	}
	return props, nil
}

// enabledStates are the UnitFileState values for which `systemctl
// is-enabled` succeeds: the unit starts at boot or cannot be enabled at all.
var enabledStates = []string{"enabled", "enabled-runtime", "linked", "linked-runtime", "alias", "static", "indirect", "generated", "transient"}

// IsEnabled says whether a UnitFileState counts as enabled.
func IsEnabled(ufs string) bool { return slices.Contains(enabledStates, ufs) }

// running says the unit is up or on its way up (not restarting after a failure).
func running(p map[string]string) bool {
	switch p["ActiveState"] {
	case "active", "reloading", "refreshing":
		return true
	case "activating":
		return p["SubState"] != "auto-restart"
	}
	return false
}

// Want is what the task asks for.
type Want struct {
	State   string // "" leaves it
	Enabled *bool
	Masked  *bool
}

// Actions are the systemctl verbs that bring a unit from props to want, in
// order. A start of a unit that is not found (before daemon-reload) is
// planned all the same; systemctl says if it still is not.
func Actions(props map[string]string, want Want) []string {
	var acts []string
	masked := props["LoadState"] == "masked" || strings.HasPrefix(props["UnitFileState"], "masked")
	if want.Masked != nil {
		if *want.Masked && !masked {
			acts = append(acts, "mask")
		} else if !*want.Masked && masked {
			acts = append(acts, "unmask")
		}
	}
	if want.Enabled != nil {
		if on := IsEnabled(props["UnitFileState"]); *want.Enabled && !on {
			acts = append(acts, "enable")
		} else if !*want.Enabled && on && props["UnitFileState"] != "static" && props["UnitFileState"] != "transient" && props["UnitFileState"] != "generated" {
			acts = append(acts, "disable")
		}
	}
	switch want.State {
	case "started":
		if !running(props) {
			acts = append(acts, "start")
		}
	case "stopped":
		if s := props["ActiveState"]; s != "inactive" && s != "failed" {
			acts = append(acts, "stop")
		}
	case "restarted":
		acts = append(acts, "restart")
	case "reloaded":
		if running(props) {
			acts = append(acts, "reload")
		} else {
			acts = append(acts, "start")
		}
	}
	return acts
}

// host runs systemctl and journalctl on one host.
type host struct {
	conn transport.Conn
	opts transport.Options
	name string // the task's host, for messages
}

func (h host) run(ctx context.Context, words ...string) (transport.Result, error) {
	res, err := h.conn.Run(ctx, transport.Command{
		Cmd: shellarg.Join(words...),
		// Plain output: no pager, no colours, untranslated messages.
		Env:     map[string]string{"SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "LC_ALL": "C"},
		Options: h.opts,
	})
	if err != nil {
		return res, fmt.Errorf("%s: %s: %w", h.name, strings.Join(words, " "), err)
	}
	if res.RC == 127 {
		return res, fmt.Errorf("%s: %s not found on the host: does it run systemd?", h.name, words[0])
	}
	return res, nil
}

func (h host) show(ctx context.Context, unit string) (map[string]string, error) {
	words := []string{"systemctl", "show", "--no-pager"}
	for _, p := range properties {
		words = append(words, "-p", p)
	}
	words = append(words, "--", unit)
	res, err := h.run(ctx, words...)
	if err != nil {
		return nil, err
	}
	if res.RC != 0 {
		return nil, fmt.Errorf("%s: systemctl show %s: rc %d: %s", h.name, unit, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	return ParseShow(string(res.Stdout))
}

func (h host) journal(ctx context.Context, unit string, lines int) []string {
	if lines == 0 {
		return nil
	}
	res, err := h.run(ctx, "journalctl", "--no-pager", "-o", "short-iso", "-n", fmt.Sprint(lines), "-u", unit)
	if err != nil || res.RC != 0 {
		msg := "journalctl failed"
		if err != nil {
			msg += ": " + err.Error()
		} else {
			msg += ": " + strings.TrimSpace(string(res.Stderr))
		}
		return []string{msg}
	}
	return strings.Split(strings.TrimRight(string(res.Stdout), "\n"), "\n")
}

func wantOf(a modules.Args) Want {
	w := Want{State: a.Str("state")}
	if a.Has("enabled") {
		v := a.Bool("enabled")
		w.Enabled = &v
	}
	if a.Has("masked") {
		v := a.Bool("masked")
		w.Masked = &v
	}
	return w
}

func commands(unit string, acts []string, reload bool) []any {
	var out []any
	if reload {
		out = append(out, "systemctl daemon-reload")
	}
	for _, a := range acts {
		out = append(out, "systemctl "+a+" -- "+shellarg.Quote(unit))
	}
	return out
}

func register(data map[string]any, unit string, props map[string]string) {
	data["name"] = unit
	status := map[string]any{}
	for k, v := range props {
		status[k] = v
	}
	data["status"] = status
	for _, k := range properties[:5] {
		data[k] = props[k]
	}
	data["enabled"] = IsEnabled(props["UnitFileState"])
}

func describe(props map[string]string) string {
	return fmt.Sprintf("LoadState: %s\nActiveState: %s (%s)\nUnitFileState: %s\n",
		props["LoadState"], props["ActiveState"], props["SubState"], props["UnitFileState"])
}

// Plan reads the unit and lists the systemctl commands the task needs.
func (Module) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	if err := (Module{}).CheckArgs(c.Args); err != nil {
		return nil, err
	}
	h := host{conn: c.Conn, opts: c.Opts, name: c.Host}
	reload := c.Args.Bool("daemon_reload")
	unit := ""
	if n := c.Args.Str("name"); n != "" {
		unit, _ = CanonicalName(n)
	}
	if unit == "" {
		// daemon_reload alone: nothing to read; Ansible runs it every time
		// and so does this, without calling it a change.
		data := map[string]any{"commands": commands("", nil, true)}
		if c.Check {
			return &modules.Plan{Data: data, Msg: "would run systemctl daemon-reload"}, nil
		}
		return &modules.Plan{Data: data, Apply: func(ctx context.Context) (*modules.Result, error) {
			if err := h.daemonReload(ctx); err != nil {
				return nil, err
			}
			return &modules.Result{Data: data, Msg: "daemon-reload done"}, nil
		}}, nil
	}
	props, err := h.show(ctx, unit)
	if err != nil {
		return nil, err
	}
	want := wantOf(c.Args)
	acts := Actions(props, want)
	needReload := reload && props["NeedDaemonReload"] == "yes"
	if props["LoadState"] == "not-found" && !reload && !(want.Masked != nil && *want.Masked) && len(acts) > 0 {
		return nil, fmt.Errorf("%s: unit %s not found (LoadState not-found): is its unit file installed? Add daemon_reload: true after installing one", c.Host, unit)
	}
	data := map[string]any{"commands": commands(unit, acts, reload)}
	register(data, unit, props)
	changed := len(acts) > 0 || needReload
	plan := &modules.Plan{Changed: changed, Data: data}
	if changed {
		plan.Msg = fmt.Sprintf("would run: %s", joinAny(data["commands"].([]any)))
		plan.Diffs = []modules.Diff{{Path: "systemd:" + unit, Before: describe(props), After: predict(props, acts)}}
	} else {
		plan.Msg = fmt.Sprintf("%s is %s (%s), %s", unit, props["ActiveState"], props["SubState"], props["UnitFileState"])
	}
	if !changed && !reload {
		return plan, nil
	}
	plan.Apply = func(ctx context.Context) (*modules.Result, error) {
		return apply(ctx, h, c.Args, unit, want, reload)
	}
	return plan, nil
}

func joinAny(l []any) string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, "; ")
}

// predict describes the unit after acts, for --diff.
func predict(props map[string]string, acts []string) string {
	p := map[string]string{}
	for k, v := range props {
		p[k] = v
	}
	for _, a := range acts {
		switch a {
		case "mask":
			p["LoadState"], p["UnitFileState"] = "masked", "masked"
		case "unmask":
			p["LoadState"], p["UnitFileState"] = "loaded", "disabled"
		case "enable":
			p["UnitFileState"] = "enabled"
		case "disable":
			p["UnitFileState"] = "disabled"
		case "start", "restart", "reload":
			p["ActiveState"], p["SubState"] = "active", "running"
		case "stop":
			p["ActiveState"], p["SubState"] = "inactive", "dead"
		}
	}
	if p["LoadState"] == "not-found" {
		p["LoadState"] = "loaded"
	}
	return describe(p)
}

func (h host) daemonReload(ctx context.Context) error {
	res, err := h.run(ctx, "systemctl", "daemon-reload")
	if err != nil {
		return err
	}
	if res.RC != 0 {
		return fmt.Errorf("%s: systemctl daemon-reload: rc %d: %s", h.name, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

func apply(ctx context.Context, h host, a modules.Args, unit string, want Want, reload bool) (*modules.Result, error) {
	changed := false
	var ran []any
	if reload {
		before, err := h.show(ctx, unit)
		if err != nil {
			return nil, err
		}
		if err := h.daemonReload(ctx); err != nil {
			return nil, err
		}
		ran = append(ran, "systemctl daemon-reload")
		changed = before["NeedDaemonReload"] == "yes"
	}
	// Read again: daemon-reload may have loaded a new unit file, and another
	// task may have acted since Plan.
	props, err := h.show(ctx, unit)
	if err != nil {
		return nil, err
	}
	acts := Actions(props, want)
	data := map[string]any{}
	fail := func(msg string) (*modules.Result, error) {
		if p, err := h.show(ctx, unit); err == nil {
			props = p
		}
		register(data, unit, props)
		data["commands"] = ran
		journal := h.journal(ctx, unit, a.Int("journal_lines"))
		data["journal"] = toAny(journal)
		if len(journal) > 0 {
			msg += "\njournalctl -u " + unit + ":\n" + strings.Join(journal, "\n")
		}
		return &modules.Result{Changed: true, Failed: true, Msg: msg, Data: data}, nil
	}
	starts := false
	for _, act := range acts {
		res, err := h.run(ctx, "systemctl", act, "--", unit)
		if err != nil {
			return nil, err
		}
		ran = append(ran, "systemctl "+act+" -- "+shellarg.Quote(unit))
		changed = true
		if res.RC != 0 {
			msg := fmt.Sprintf("%s: systemctl %s %s: rc %d: %s", h.name, act, unit, res.RC, strings.TrimSpace(string(res.Stderr)))
			if act == "start" || act == "restart" || act == "reload" {
				return fail(msg)
			}
			register(data, unit, props)
			data["commands"] = ran
			return &modules.Result{Changed: true, Failed: true, Msg: msg, Data: data}, nil
		}
		starts = starts || act == "start" || act == "restart" || act == "reload"
	}
	if starts {
		if msg := h.settle(ctx, unit, a.Dur("settle")); msg != "" {
			return fail(msg)
		}
	}
	if props, err = h.show(ctx, unit); err != nil {
		return nil, err
	}
	register(data, unit, props)
	data["commands"] = ran
	msg := fmt.Sprintf("%s is %s (%s), %s", unit, props["ActiveState"], props["SubState"], props["UnitFileState"])
	return &modules.Result{Changed: changed, Msg: msg, Data: data}, nil
}

// settle watches a unit just started: a service whose process exits at once
// is "active" when systemctl start returns and "failed" (or restarting)
// a moment later.
func (h host) settle(ctx context.Context, unit string, d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		p, err := h.show(ctx, unit)
		if err != nil {
			return err.Error()
		}
		if p["ActiveState"] == "failed" || p["ActiveState"] == "activating" && p["SubState"] == "auto-restart" {
			return fmt.Sprintf("%s: %s failed after starting: ActiveState %s, SubState %s, Result %s, exit status %s",
				h.name, unit, p["ActiveState"], p["SubState"], p["Result"], p["ExecMainStatus"])
		}
		if p["ActiveState"] == "inactive" && p["Result"] != "" && p["Result"] != "success" {
			return fmt.Sprintf("%s: %s stopped after starting: Result %s, exit status %s", h.name, unit, p["Result"], p["ExecMainStatus"])
		}
		if !time.Now().Before(deadline) {
			return ""
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err().Error()
		case <-t.C:
		}
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ServiceAlias registers the module under Ansible's newer name as well
// (ansible.builtin.systemd_service), so playbooks using it run unchanged.
type ServiceAlias struct{ Module }

// Info is systemd's under the name systemd_service.
func (ServiceAlias) Info() modules.Info {
	i := Module{}.Info()
	i.Name = "systemd_service"
	i.Summary = "The systemd module under Ansible's name systemd_service"
	return i
}

// Plan is systemd's.
func (s ServiceAlias) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	return s.Module.Plan(ctx, c)
}

func init() { modules.Register(ServiceAlias{}) }
