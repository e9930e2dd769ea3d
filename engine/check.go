package engine

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"kplay/diag"
	"kplay/dsl"
	"kplay/modules"
)

// ModuleSchemas describes every registered module for the playbook parser,
// which checks task arguments against them.
func ModuleSchemas() map[string]dsl.ModuleSchema {
	out := map[string]dsl.ModuleSchema{}
	for _, m := range modules.All() {
		info := m.Info()
		s := dsl.ModuleSchema{Name: info.Name, FreeForm: info.FreeForm, FreeKeys: info.AnyArgs, Args: map[string]dsl.ArgSpec{}}
		for _, a := range info.Args {
			spec := dsl.ArgSpec{Name: a.Name, Type: string(a.Type), Required: a.Required, Choices: a.Choices}
			s.Args[a.Name] = spec
			for _, al := range a.Aliases {
				s.Args[al] = spec
			}
		}
		out[info.Name] = s
	}
	return out
}

// CheckOptions is what Check needs besides the playbook.
type CheckOptions struct {
	Inventory     Inventory
	InventoryVars []string // every variable name the inventory defines
	ExtraVars     map[string]any

	// Limit is --limit: only the hosts the run will touch have their
	// connection variables checked.
	Limit string
	// Connections are the ansible_connection values the run can dial
	// (Dialers' names); nil leaves that to connect time.
	Connections []string
	// ConnVarNames are the transports' own host variables (kplay_known_hosts,
	// kplay_host_key_checking), rendered and passed to ConnVarsCheck.
	ConnVarNames []string
	// ConnVarsCheck returns, per variable, what the transport named conn
	// would refuse when connecting (ssh.CheckVars for ssh); nil for none.
	ConnVarsCheck func(conn string, vars map[string]any) map[string]error
}

// MagicVars are the variables kplay defines for every task.
var MagicVars = []string{
	"inventory_hostname", "inventory_hostname_short", "groups", "group_names",
	"hostvars", "playbook_dir", "ansible_check_mode", "ansible_diff_mode",
	"ansible_play_hosts", "ansible_play_hosts_all", "ansible_play_batch",
	"play_hosts", "omit", "ansible_loop", "ansible_facts",
}

// FactNames are the facts gather_facts sets (each also under ansible_facts
// without the prefix).
var FactNames = []string{
	"ansible_hostname", "ansible_nodename", "ansible_fqdn", "ansible_system",
	"ansible_kernel", "ansible_architecture", "ansible_machine",
	"ansible_distribution", "ansible_distribution_version",
	"ansible_distribution_major_version", "ansible_distribution_release",
	"ansible_os_family", "ansible_all_ipv4_addresses", "ansible_all_ipv6_addresses",
}

// Check finds what can be known wrong before any host is touched, beyond
// what the parser found: module arguments that the module's own checks
// refuse, copy and template sources that are missing or (templates) do not
// parse, variables nothing defines, and connection variables (ansible_port,
// ansible_connection, ...) of the hosts the run will touch that connecting
// would refuse. Every problem is returned. It works
// on a playbook the parser found problems in too, so that all problems are
// reported at once.
func Check(pb *dsl.Playbook, o CheckOptions) diag.Diagnostics {
	var ds diag.Diagnostics
	dir, err := filepath.Abs(filepath.Dir(pb.Path))
	if err != nil {
		dir = filepath.Dir(pb.Path)
	}
	for _, p := range pb.Plays {
		if o.Inventory != nil && p.Hosts != "" {
			if _, err := o.Inventory.Hosts(p.Hosts); err != nil {
				ds.Addf(p.HostsPos, "hosts %q: %v", p.Hosts, err)
			}
		}
		// Notify names and delegate_to are the parser's to check.
		check := func(t *dsl.Task) { ds = append(ds, checkArgs(t, dir)...) }
		walkTasks(p.Tasks, check)
		walkTasks(p.Handlers, check)
	}
	defined := definedNames(o)
	known := append([]string(nil), o.InventoryVars...)
	for k := range o.ExtraVars {
		known = append(known, k)
	}
	ds = append(ds, pb.CheckNamesSuggest(func(name string) bool { return defined[name] }, known)...)
	hostErrs, _ := hostVarsCheck(pb, o, true, false)
	ds = append(ds, hostErrs...)
	return ds
}

func definedNames(o CheckOptions) map[string]bool {
	d := map[string]bool{}
	for _, l := range [][]string{MagicVars, FactNames, o.InventoryVars} {
		for _, n := range l {
			d[n] = true
		}
	}
	for k := range o.ExtraVars {
		d[k] = true
	}
	// Connection and become variables Ansible users may read.
	for _, n := range []string{"ansible_host", "ansible_port", "ansible_user", "ansible_connection", "ansible_become", "ansible_become_user"} {
		d[n] = true
	}
	return d
}

// walkTasks calls f for every module task, inside blocks too.
func walkTasks(ts []*dsl.Task, f func(*dsl.Task)) {
	for _, t := range ts {
		if t.IsBlock() {
			walkTasks(t.Block, f)
			walkTasks(t.Rescue, f)
			walkTasks(t.Always, f)
			continue
		}
		f(t)
	}
}

// literalArgs returns a task's arguments when none holds {{ }}.
func literalArgs(t *dsl.Task) (map[string]any, bool) {
	raw := map[string]any{}
	for _, e := range t.Args {
		if hasTemplate(e.Value) {
			return nil, false
		}
		v, err := evalValue(e.Value, nil)
		if err != nil {
			return nil, false
		}
		raw[e.Key] = v
	}
	return raw, true
}

// checkArgs runs a module's own argument checks when the arguments are
// literal, and checks copy's and template's literal sources. Type errors
// are the parser's to report (it has the schemas), so they are not repeated.
func checkArgs(t *dsl.Task, dir string) diag.Diagnostics {
	var ds diag.Diagnostics
	m, ok := modules.Lookup(t.Module)
	if !ok {
		return nil // the parser reports unknown modules
	}
	info := m.Info()
	srcPos := t.ModulePos
	for _, e := range t.Args {
		if e.Key == "src" {
			srcPos = e.Value.Pos
		}
		// A templated src is checked when it runs.
		if e.Key == "src" && e.Value.Kind == dsl.Scalar && (info.Name == "template" || info.Name == "copy") {
			src, _ := e.Value.Scalar.(string)
			if src == "" {
				continue
			}
			sub := "files"
			if info.Name == "template" {
				sub = "templates"
			}
			path, tried := findSource(dir, sub, src)
			if path == "" {
				ds.Addf(srcPos, "%s: src %q not found (looked in %s)", info.Name, src, strings.Join(tried, ", "))
				continue
			}
			if info.Name == "template" {
				if _, err := dsl.LoadTemplateFile(path); err != nil {
					ds = append(ds, asDiagnostics(err, srcPos)...)
				}
			}
		}
	}
	raw, ok := literalArgs(t)
	if !ok {
		return ds
	}
	args, errs := modules.Normalize(info, raw)
	if len(errs) > 0 {
		return ds
	}
	if c, ok := m.(modules.ArgsChecker); ok {
		if err := c.CheckArgs(args); err != nil {
			ds.Addf(t.ModulePos, "%s: %v", info.Name, err)
		}
	}
	return ds
}

// findSource resolves a copy or template src the way the modules do:
// Dir/files (or templates), then Dir, unless absolute.
func findSource(dir, sub, src string) (string, []string) {
	var cands []string
	if filepath.IsAbs(src) {
		cands = []string{src}
	} else {
		cands = []string{filepath.Join(dir, sub, src), filepath.Join(dir, src)}
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, cands
		} else if err == nil && st.IsDir() && sub == "files" {
			return c, cands // copy takes directories too
		}
	}
	return "", cands
}

// asDiagnostics keeps the positions an error carries, else puts it at pos.
func asDiagnostics(err error, pos diag.Pos) diag.Diagnostics {
	var ds diag.Diagnostics
	if errors.As(err, &ds) {
		return ds
	}
	return diag.Diagnostics{{Pos: pos, Msg: err.Error()}}
}

// PlayHosts is the hosts a play would run on with --limit, for --list-hosts.
func PlayHosts(inv Inventory, p *dsl.Play, limit string) ([]string, error) {
	r := newRunner(Options{Inventory: inv, Limit: limit, Playbook: &dsl.Playbook{}})
	return r.playHosts(p)
}

// TaskInfo is one line of --list-tasks.
type TaskInfo struct {
	Name string
	Tags []string
}

// ListTasks lists a play's tasks that the tags select, blocks flattened
// (rescue and always included).
func ListTasks(p *dsl.Play, tags, skip []string) []TaskInfo {
	r := newRunner(Options{Inventory: emptyInventory{}, Tags: tags, SkipTags: skip, Playbook: &dsl.Playbook{}})
	var out []TaskInfo
	var walk func(ts []*dsl.Task, inh []string)
	walk = func(ts []*dsl.Task, inh []string) {
		for _, t := range ts {
			all := append(append([]string(nil), inh...), t.Tags...)
			if t.IsBlock() {
				walk(t.Block, all)
				walk(t.Rescue, all)
				walk(t.Always, all)
				continue
			}
			if r.tagsSelect(all) {
				u := dedupeKeep(all)
				sort.Strings(u)
				out = append(out, TaskInfo{Name: taskName(t), Tags: u})
			}
		}
	}
	walk(p.Tasks, p.Tags)
	return out
}

func dedupeKeep(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

type emptyInventory struct{}

func (emptyInventory) Hosts(string) ([]string, error) { return nil, nil }
func (emptyInventory) HostVars(string) map[string]any { return nil }
func (emptyInventory) Groups() map[string][]string    { return map[string][]string{} }
