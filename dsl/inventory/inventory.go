// Package inventory reads Ansible inventories unchanged (INI and YAML, with
// group_vars/ and host_vars/ beside them) and answers Ansible host patterns.
//
// It follows ansible-core's rules: how INI values are typed (Python
// literals: 22 is an int, True a bool, yes a string), YAML 1.1 typing for
// YAML (yes is a bool, 0644 octal), all and ungrouped, host ranges,
// variable precedence (all, then groups by depth, ansible_group_priority
// and name, then group_vars/ files, then the host's inline vars, then
// host_vars/ files), and the order hosts come out of a pattern.
//
// Where it differs, it says more than Ansible:
//   - every problem is reported at once, as file:line:col: message;
//   - errors where Ansible is silent or only warns: a reversed or mixed
//     host range, a host listed twice in one section, an unknown key in a
//     YAML group, a key given twice in any YAML mapping
//     (group_vars/ files included), a group or host that is not a mapping;
//   - not supported, each with its own error: inventory scripts, inventory
//     plugin files (plugin:), vault-encrypted values (!vault);
//   - INI values Python would read as a complex number, an integer beyond
//     64 bits or a \N{name} escape stay strings; a Python set becomes a list;
//     YAML timestamps stay strings;
//   - for groups nested two levels or more under all, Ansible orders the
//     grandchildren's hosts by Python set iteration, which can change from
//     one run to the next; kplay takes the children in the order they were
//     listed, one of the orders Ansible can give.
package inventory

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"kplay/diag"
)

// Inventory is a loaded inventory. It does not change after Load, so any
// number of goroutines may query it.
type Inventory struct {
	hosts     []*Host // in the order Ansible creates them
	hostByKey map[string]*Host
	groups    []*group // in creation order; all and ungrouped first
	groupByID map[string]*group
	sources   []string // absolute paths of the sources, for group_vars/host_vars
	shown     []string // the same paths as the caller gave them, for messages

	// per inventory source directory, in source order: vars from
	// group_vars/NAME and host_vars/NAME
	varsDirs []*varsDir
	playDirs []*varsDir                // the same beside the playbook (WithPlaybookDir)
	merged   map[string]map[string]any // HostVars without magic, per host
	varNames []string

	mu        sync.Mutex // guards localhost
	localhost *Host      // implicit localhost, made on first use as Ansible does
}

// Host is one inventory host.
type Host struct {
	Name string
	// Pos is where the host is first listed.
	Pos diag.Pos
	// Groups are Ansible's group_names for the host: every group it belongs
	// to, directly or through children, sorted, without "all".
	Groups []string
	// Implicit is set on the localhost Ansible makes up when a pattern names
	// localhost and the inventory does not list it.
	Implicit bool

	vars   map[string]any // inline host vars, in the order set
	varPos map[string]diag.Pos
	source string // inventory file that first listed the host
}

type group struct {
	name     string
	pos      diag.Pos
	vars     map[string]any // inline vars ([g:vars], YAML vars:)
	varPos   map[string]diag.Pos
	children []*group
	parents  []*group
	hosts    []*Host // direct members, in the order added
	member   map[*Host]bool
	depth    int     // longest path from all
	priority int     // ansible_group_priority
	allHosts []*Host // hosts of the group and its descendants, cached
}

func newInventory() *Inventory {
	inv := &Inventory{hostByKey: map[string]*Host{}, groupByID: map[string]*group{}}
	all := inv.addGroup("all", diag.Pos{})
	ungrouped := inv.addGroup("ungrouped", diag.Pos{})
	all.children = append(all.children, ungrouped)
	ungrouped.parents = append(ungrouped.parents, all)
	return inv
}

func (inv *Inventory) addGroup(name string, pos diag.Pos) *group {
	if g := inv.groupByID[name]; g != nil {
		return g
	}
	g := &group{name: name, pos: pos, vars: map[string]any{}, varPos: map[string]diag.Pos{}, member: map[*Host]bool{}}
	inv.groups = append(inv.groups, g)
	inv.groupByID[name] = g
	return g
}

// addHost adds (or finds) a host and makes it a member of g.
func (inv *Inventory) addHost(name string, pos diag.Pos, src string, g *group) *Host {
	h := inv.hostByKey[name]
	if h == nil {
		h = &Host{Name: name, Pos: pos, vars: map[string]any{}, varPos: map[string]diag.Pos{}, source: src}
		inv.hosts = append(inv.hosts, h)
		inv.hostByKey[name] = h
	}
	if g != nil && !g.member[h] {
		g.member[h] = true
		g.hosts = append(g.hosts, h)
	}
	return h
}

// addChild makes child a child group of parent unless that makes a cycle,
// which it reports at pos.
func (inv *Inventory) addChild(parent, child *group, pos diag.Pos, ds *diag.Diagnostics) {
	if slices.Contains(parent.children, child) {
		return
	}
	if child.name == "all" {
		ds.Addf(pos, `group "all" cannot be a child of %q: every group is already under all`, parent.name)
		return
	}
	if path := childPath(child, parent); path != nil {
		names := []string{parent.name}
		for _, g := range path {
			names = append(names, g.name)
		}
		ds.Addf(pos, "cycle of children: %s", strings.Join(names, " -> "))
		return
	}
	parent.children = append(parent.children, child)
	child.parents = append(child.parents, parent)
}

// childPath returns the groups from 'from' down to 'to' through children
// (both included), or nil when to is not under from.
func childPath(from, to *group) []*group {
	if from == to {
		return []*group{from}
	}
	seen := map[*group]bool{}
	var walk func(g *group) []*group
	walk = func(g *group) []*group {
		if g == to {
			return []*group{g}
		}
		if seen[g] {
			return nil
		}
		seen[g] = true
		for _, c := range g.children {
			if p := walk(c); p != nil {
				return append([]*group{g}, p...)
			}
		}
		return nil
	}
	return walk(from)
}

// Load reads the inventory sources in order: each path is an inventory file
// (INI or YAML, detected) or a directory, whose files are each read, as
// ansible-playbook -i does; a path that does not exist but holds a comma is
// a list of hosts ("web1,web2,"). group_vars/ and host_vars/ beside each source (in
// the directory itself for a directory) are read too. It returns every
// problem found; the Inventory is only meant to be used when there are none.
func Load(paths []string) (*Inventory, diag.Diagnostics) {
	inv := newInventory()
	var ds diag.Diagnostics
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			ds.Addf(diag.Pos{File: p}, "inventory: %v", err)
			continue
		}
		fi, err := os.Stat(abs)
		if err != nil && strings.Contains(p, ",") {
			inv.loadHostList(p)
			continue
		}
		if err != nil {
			ds.Addf(diag.Pos{File: p}, "inventory: %v", cleanPathErr(err))
			continue
		}
		inv.sources = append(inv.sources, abs)
		inv.shown = append(inv.shown, p)
		if fi.IsDir() {
			inv.loadDir(abs, p, &ds)
		} else {
			inv.loadFile(abs, p, &ds)
		}
	}
	inv.reconcile()
	inv.loadVarsDirs(&ds)
	inv.computeVars(&ds)
	ds.Sort()
	return inv, ds
}

// loadBytes reads one inventory file's content, without group_vars or
// host_vars: the fuzz targets' way in.
func loadBytes(name string, data []byte) (*Inventory, diag.Diagnostics) {
	inv := newInventory()
	var ds diag.Diagnostics
	inv.parseSource(name, "/"+name, data, &ds)
	inv.reconcile()
	inv.computeVars(&ds)
	ds.Sort()
	return inv, ds
}

func cleanPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// loadHostList reads "-i web1,web2:2222," as Ansible's host_list plugin
// does: a comma-separated list of hosts (host:port allowed, ranges not),
// all in ungrouped, with no group_vars/ or host_vars/.
func (inv *Inventory) loadHostList(list string) {
	ungrouped := inv.groupByID["ungrouped"]
	col := 1
	for _, item := range strings.Split(list, ",") {
		h := strings.TrimSpace(item)
		pos := diag.Pos{File: list, Line: 1, Col: col + strings.Index(item, h)}
		col += len(item) + 1
		if h == "" || inv.hostByKey[h] != nil {
			continue
		}
		name, port := splitHostPort(h)
		if strings.Contains(name, "[") {
			name, port = h, 0 // no ranges in a host list
		}
		if inv.hostByKey[name] != nil {
			continue
		}
		inv.setHost(name, pos, "", ungrouped, port, nil, nil, nil)
	}
}

// ignoredInDir is ansible-core's default INVENTORY_IGNORE_EXTS (which holds
// .ini too: in a directory Ansible skips *.ini files, so kplay does).
var ignoredInDir = []string{".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".ini", ".cfg", ".retry"}

func skipInDir(name string) bool {
	if strings.HasPrefix(name, ".") || name == "group_vars" || name == "host_vars" || name == "vars_plugins" {
		return true
	}
	for _, ext := range ignoredInDir {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// loadDir reads every inventory file of dir, in name order, recursing into
// subdirectories as Ansible does.
func (inv *Inventory) loadDir(abs, shown string, ds *diag.Diagnostics) {
	entries, err := os.ReadDir(abs)
	if err != nil {
		ds.Addf(diag.Pos{File: shown}, "inventory: %v", cleanPathErr(err))
		return
	}
	for _, e := range entries { // ReadDir sorts by name
		if skipInDir(e.Name()) {
			continue
		}
		full, disp := filepath.Join(abs, e.Name()), filepath.Join(shown, e.Name())
		fi, err := os.Stat(full)
		if err != nil {
			ds.Addf(diag.Pos{File: disp}, "inventory: %v", cleanPathErr(err))
			continue
		}
		if fi.IsDir() {
			inv.loadDir(full, disp, ds)
		} else {
			inv.loadFile(full, disp, ds)
		}
	}
}

func (inv *Inventory) loadFile(abs, shown string, ds *diag.Diagnostics) {
	data, err := os.ReadFile(abs)
	if err != nil {
		ds.Addf(diag.Pos{File: shown}, "inventory: %v", cleanPathErr(err))
		return
	}
	if strings.HasPrefix(string(data), "#!") {
		if fi, err := os.Stat(abs); err == nil && fi.Mode()&0o111 != 0 {
			ds.Addf(diag.Pos{File: shown, Line: 1, Col: 1}, "inventory scripts are not supported: list the hosts in an INI or YAML file")
			return
		}
	}
	inv.parseSource(shown, abs, data, ds)
}

// parseSource detects the format of one inventory file and parses it, as
// Ansible does with its YAML plugin then its INI plugin: a file with no
// extension or a YAML one (.yml, .yaml, .json) is YAML when it reads as a YAML
// mapping, else INI; any other file is INI. When neither reads cleanly, a
// file that looks like YAML (a YAML extension, ---, or "key:" first) gets
// YAML's errors, any other INI's.
func (inv *Inventory) parseSource(shown, abs string, data []byte, ds *diag.Diagnostics) {
	ext := strings.ToLower(filepath.Ext(shown))
	yamlExt := ext == ".yml" || ext == ".yaml" || ext == ".json"
	if ext == "" || yamlExt {
		doc, yerr := parseYAMLDoc(shown, data)
		if yerr == nil && doc != nil && isMapping(doc) {
			inv.parseYAMLInventory(shown, abs, doc, ds)
			return
		}
		if yamlExt || looksLikeYAML(data) {
			// try INI on a copy, kept only when it reads cleanly
			scratch := inv.clone()
			var ids diag.Diagnostics
			newINIParser(scratch, shown, abs, &ids).parse(data)
			if len(ids) == 0 {
				inv.hosts, inv.hostByKey, inv.groups, inv.groupByID = scratch.hosts, scratch.hostByKey, scratch.groups, scratch.groupByID
				return
			}
			switch {
			case yerr != nil:
				*ds = append(*ds, yerr...)
			case doc != nil:
				ds.Addf(nodePos(shown, doc), "YAML inventory must be a mapping of group names, got %s", kindName(doc))
			}
			return
		}
	}
	newINIParser(inv, shown, abs, ds).parse(data)
}

// looksLikeYAML reports whether the first meaningful line of data is a YAML
// document start or a "key:" line, which no INI inventory line is.
func looksLikeYAML(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if t == "---" || strings.HasPrefix(t, "--- ") || strings.HasPrefix(t, "%YAML") {
			return true
		}
		if k, rest, ok := strings.Cut(t, ":"); ok && !strings.ContainsAny(k, " \t[]=") && k != "" &&
			(rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return true
		}
		return false
	}
	return false
}

// clone copies the inventory's graph so a parse can be tried and dropped.
func (inv *Inventory) clone() *Inventory {
	c := &Inventory{hostByKey: map[string]*Host{}, groupByID: map[string]*group{}, sources: inv.sources}
	hm := map[*Host]*Host{}
	for _, h := range inv.hosts {
		nh := *h
		nh.vars = cloneMap(h.vars)
		nh.varPos = maps.Clone(h.varPos)
		hm[h] = &nh
		c.hosts = append(c.hosts, &nh)
		c.hostByKey[nh.Name] = &nh
	}
	gm := map[*group]*group{}
	for _, g := range inv.groups {
		ng := *g
		ng.vars = cloneMap(g.vars)
		ng.varPos = maps.Clone(g.varPos)
		ng.member = map[*Host]bool{}
		gm[g] = &ng
		c.groups = append(c.groups, &ng)
		c.groupByID[ng.name] = &ng
	}
	for _, g := range c.groups {
		g.children = mapSlice(g.children, gm)
		g.parents = mapSlice(g.parents, gm)
		g.hosts = mapSlice(g.hosts, hm)
		for _, h := range g.hosts {
			g.member[h] = true
		}
	}
	return c
}

func mapSlice[T comparable](s []T, m map[T]T) []T {
	out := make([]T, len(s))
	for i, x := range s {
		out[i] = m[x]
	}
	return out
}

func cloneMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// reconcile applies Ansible's rules after all sources are read: every group
// without a parent goes under all; a host in no group but all goes to
// ungrouped, and one in another group leaves ungrouped. Then it computes
// depths, group memberships and each group's host list.
func (inv *Inventory) reconcile() {
	all, ungrouped := inv.groupByID["all"], inv.groupByID["ungrouped"]
	for _, g := range inv.groups {
		if g != all && len(g.parents) == 0 {
			all.children = append(all.children, g)
			g.parents = append(g.parents, all)
		}
	}
	anc := map[*group]map[*group]bool{}
	var ancestors func(g *group) map[*group]bool
	ancestors = func(g *group) map[*group]bool {
		if a, ok := anc[g]; ok {
			return a
		}
		a := map[*group]bool{g: true}
		anc[g] = a // cycles are refused when added, so this only guards
		for _, p := range g.parents {
			for x := range ancestors(p) {
				a[x] = true
			}
		}
		return a
	}
	direct := func() map[*Host][]*group {
		d := map[*Host][]*group{}
		for _, g := range inv.groups {
			for _, h := range g.hosts {
				d[h] = append(d[h], g)
			}
		}
		return d
	}
	memberOf := func(gs []*group) map[*group]bool {
		set := map[*group]bool{}
		for _, g := range gs {
			for x := range ancestors(g) {
				set[x] = true
			}
		}
		return set
	}
	d := direct()
	leave := map[*Host]bool{}
	var join []*Host
	for _, h := range inv.hosts {
		set := memberOf(d[h])
		if set[ungrouped] {
			for g := range set {
				if g != all && g != ungrouped {
					leave[h] = true
					break
				}
			}
		} else if len(set) == 0 || len(set) == 1 && set[all] {
			join = append(join, h)
		}
	}
	ungrouped.hosts = slices.DeleteFunc(ungrouped.hosts, func(h *Host) bool { return leave[h] })
	ungrouped.hosts = append(ungrouped.hosts, join...)
	ungrouped.member = map[*Host]bool{}
	for _, h := range ungrouped.hosts {
		ungrouped.member[h] = true
	}
	d = direct()
	for _, h := range inv.hosts {
		h.Groups = []string{}
		for g := range memberOf(d[h]) {
			if g != all {
				h.Groups = append(h.Groups, g.name)
			}
		}
		sort.Strings(h.Groups)
	}
	// depth: the longest path from all, as Ansible's add_child_group keeps it
	var depth func(g *group, seen map[*group]bool) int
	memo := map[*group]int{}
	depth = func(g *group, seen map[*group]bool) int {
		if d, ok := memo[g]; ok {
			return d
		}
		if seen[g] { // cannot happen: cycles are refused when added
			return 0
		}
		seen[g] = true
		d := 0
		for _, p := range g.parents {
			d = max(d, depth(p, seen)+1)
		}
		delete(seen, g)
		memo[g] = d
		return d
	}
	for _, g := range inv.groups {
		g.depth = depth(g, map[*group]bool{})
	}
	for _, g := range inv.groups {
		g.allHosts = g.collectHosts()
	}
}

// collectHosts lists the hosts of g and of its descendants the way
// Ansible's Group.get_hosts does: g, its children in order, then each
// further generation, each host once.
func (g *group) collectHosts() []*Host {
	ordered := append([]*group{g}, g.children...)
	seen := map[*group]bool{g: true}
	for _, c := range g.children {
		seen[c] = true
	}
	level := ordered
	for len(level) > 0 {
		var next []*group
		for _, u := range level {
			for _, c := range u.children {
				if !seen[c] {
					seen[c] = true
					next = append(next, c)
					ordered = append(ordered, c)
				}
			}
		}
		level = next
	}
	var hosts []*Host
	seenH := map[*Host]bool{}
	for _, kid := range ordered {
		for _, h := range kid.hosts {
			if !seenH[h] {
				seenH[h] = true
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}

// sortedGroups orders a host's groups as Ansible merges their vars: by
// depth, then ansible_group_priority, then name.
func (inv *Inventory) sortedGroups(h *Host) []*group {
	var gs []*group
	for _, name := range h.Groups {
		gs = append(gs, inv.groupByID[name])
	}
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.depth != b.depth {
			return a.depth < b.depth
		}
		if a.priority != b.priority {
			return a.priority < b.priority
		}
		return a.name < b.name
	})
	return gs
}

// computeVars merges every host's variables once, in Ansible's order:
// all's inline vars, the other groups' inline vars (by depth, priority,
// name), group_vars/all, group_vars/GROUP (per source, groups in the same
// order), inline host vars, host_vars/HOST.
func (inv *Inventory) computeVars(ds *diag.Diagnostics) {
	inv.merged = map[string]map[string]any{}
	names := map[string]bool{}
	for _, h := range inv.hosts {
		inv.merged[h.Name] = inv.mergeVars(h, inv.sortedGroups(h))
	}
	for _, g := range inv.groups {
		for k := range g.vars {
			names[k] = true
		}
	}
	for _, h := range inv.hosts {
		for k := range h.vars {
			names[k] = true
		}
	}
	for _, vd := range append(slices.Clone(inv.varsDirs), inv.playDirs...) {
		for _, m := range vd.groups {
			for k := range m {
				names[k] = true
			}
		}
		for _, m := range vd.hosts {
			for k := range m {
				names[k] = true
			}
		}
	}
	for _, k := range magicVarNames {
		names[k] = true
	}
	for k := range names {
		inv.varNames = append(inv.varNames, k)
	}
	sort.Strings(inv.varNames)
}

// magicVarNames are the variables HostVars adds to every host, plus the
// ones an implicit localhost gets.
var magicVarNames = []string{"inventory_hostname", "inventory_hostname_short", "group_names",
	"inventory_file", "inventory_dir", "ansible_connection"}

func (inv *Inventory) mergeVars(h *Host, groups []*group) map[string]any {
	v := map[string]any{}
	put := func(m map[string]any) {
		for k, x := range m {
			v[k] = x
		}
	}
	put(inv.groupByID["all"].vars)
	for _, g := range groups {
		if g.name != "all" {
			put(g.vars)
		}
	}
	// Ansible's VARIABLE_PRECEDENCE: all_plugins_inventory,
	// all_plugins_play, groups_plugins_inventory, groups_plugins_play
	for _, dirs := range [][]*varsDir{inv.varsDirs, inv.playDirs} {
		for _, vd := range dirs {
			put(vd.groups["all"])
		}
	}
	for _, dirs := range [][]*varsDir{inv.varsDirs, inv.playDirs} {
		for _, vd := range dirs {
			for _, g := range groups {
				if g.name != "all" {
					put(vd.groups[g.name])
				}
			}
		}
	}
	if h.source != "" {
		v["inventory_file"] = h.source
		v["inventory_dir"] = filepath.Dir(h.source)
	}
	put(h.vars)
	for _, vd := range inv.varsDirs {
		put(vd.hosts[h.Name])
	}
	for _, vd := range inv.playDirs {
		put(vd.hosts[h.Name])
	}
	return v
}

// Host returns the named host, or nil. localhost, 127.0.0.1 and ::1 give
// Ansible's implicit localhost when the inventory does not list them.
func (inv *Inventory) Host(name string) *Host {
	if h := inv.hostByKey[name]; h != nil {
		return h
	}
	if isLocalhostName(name) {
		return inv.implicitLocalhost(name)
	}
	return nil
}

func isLocalhostName(s string) bool { return s == "localhost" || s == "127.0.0.1" || s == "::1" }

func (inv *Inventory) implicitLocalhost(name string) *Host {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.localhost == nil {
		// a listed localhost-like host stands in for the others, as in Ansible
		for _, h := range inv.hosts {
			if isLocalhostName(h.Name) {
				inv.localhost = h
				return h
			}
		}
		inv.localhost = &Host{Name: name, Implicit: true, Groups: []string{},
			vars: map[string]any{"ansible_connection": "local"}}
	}
	return inv.localhost
}

// HostVars returns the host's variables merged in Ansible's precedence
// order, plus inventory_hostname, inventory_hostname_short, group_names,
// inventory_file and inventory_dir. It returns nil for an unknown host. The
// map and everything in it is the caller's to change.
func (inv *Inventory) HostVars(name string) map[string]any {
	h := inv.Host(name)
	if h == nil {
		return nil
	}
	var v map[string]any
	if h.Implicit {
		v = inv.mergeVars(h, nil)
		delete(v, "inventory_file")
		delete(v, "inventory_dir")
	} else {
		v = inv.merged[h.Name]
	}
	out := deepCopy(v).(map[string]any)
	out["inventory_hostname"] = h.Name
	short := h.Name
	if i := strings.IndexByte(short, '.'); i > 0 && !reIPv4.MatchString(short) {
		short = short[:i]
	}
	out["inventory_hostname_short"] = short
	gn := make([]any, len(h.Groups))
	for i, g := range h.Groups {
		gn[i] = g
	}
	out["group_names"] = gn
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// Groups returns Ansible's groups magic variable: every group, all and
// ungrouped included, with its hosts (its own and its descendants') in
// Ansible's order.
func (inv *Inventory) Groups() map[string][]string {
	out := make(map[string][]string, len(inv.groups))
	for _, g := range inv.groups {
		names := make([]string, len(g.allHosts))
		for i, h := range g.allHosts {
			names[i] = h.Name
		}
		out[g.name] = names
	}
	return out
}

// VarNames returns, sorted, every variable name the inventory defines
// anywhere (inline, group_vars/, host_vars/) and the ones HostVars adds, so a
// static check can tell a misspelt variable from an inventory one.
func (inv *Inventory) VarNames() []string { return slices.Clone(inv.varNames) }

// Names adapts an Inventory for callers that work with host names, such as
// the engine: its Hosts returns names; HostVars, Groups, Match and the
// rest come from the embedded Inventory.
type Names struct{ *Inventory }

// Hosts returns the names of the hosts pattern selects, in Ansible's order.
func (n Names) Hosts(pattern string) ([]string, error) {
	hs, err := n.Inventory.Hosts(pattern)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out, nil
}

// VarPos returns where the value HostVars gives a host's variable was set:
// the INI host line or [group:vars] line, the YAML key, or the
// group_vars/host_vars file's key, following the same precedence as
// HostVars. It returns false for an unknown host, a variable the inventory
// does not set, or one it sets with no position (a port from "-i host:2222,",
// the implicit localhost's ansible_connection).
func (inv *Inventory) VarPos(host, name string) (diag.Pos, bool) {
	h := inv.Host(host)
	if h == nil || h.Implicit {
		return diag.Pos{}, false
	}
	var pos diag.Pos
	found := false
	put := func(vars map[string]any, at map[string]diag.Pos) {
		if _, ok := vars[name]; ok {
			pos, found = at[name], true
		}
	}
	groups := inv.sortedGroups(h)
	all := inv.groupByID["all"]
	put(all.vars, all.varPos)
	for _, g := range groups {
		if g.name != "all" {
			put(g.vars, g.varPos)
		}
	}
	dirs := [][]*varsDir{inv.varsDirs, inv.playDirs}
	for _, ds := range dirs {
		for _, vd := range ds {
			put(vd.groups["all"], vd.groupPos["all"])
		}
	}
	for _, ds := range dirs {
		for _, vd := range ds {
			for _, g := range groups {
				if g.name != "all" {
					put(vd.groups[g.name], vd.groupPos[g.name])
				}
			}
		}
	}
	put(h.vars, h.varPos)
	for _, ds := range dirs {
		for _, vd := range ds {
			put(vd.hosts[h.Name], vd.hostPos[h.Name])
		}
	}
	return pos, found && pos.File != ""
}
