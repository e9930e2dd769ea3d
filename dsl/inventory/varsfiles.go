package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"kplay/diag"
)

// varsDir holds what group_vars/ and host_vars/ beside one inventory source
// define, by group and host name.
type varsDir struct {
	groups map[string]map[string]any
	hosts  map[string]map[string]any
	// where each variable was set, by group or host name then variable
	groupPos map[string]map[string]diag.Pos
	hostPos  map[string]map[string]diag.Pos
}

// varsFile is one vars file's content and the position of each key.
type varsFile struct {
	vars map[string]any
	pos  map[string]diag.Pos
}

// varsExts are the names Ansible tries for an entity, in order; the first
// that exists is used (a directory of files included).
var varsExts = []string{"", ".yml", ".yaml", ".json"}

// loadVarsDirs reads group_vars/NAME and host_vars/NAME beside each source
// (for a directory source, inside it), for every group and host.
func (inv *Inventory) loadVarsDirs(ds *diag.Diagnostics) {
	cache := map[string]varsFile{} // file -> vars, so a file is read (and reported) once
	for i, src := range inv.sources {
		base, shown := src, inv.shown[i]
		if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
			base, shown = filepath.Dir(src), filepath.Dir(shown)
		}
		inv.varsDirs = append(inv.varsDirs, inv.loadVarsDir(base, shown, cache, ds))
	}
}

// loadVarsDir reads base/group_vars/ and base/host_vars/ for the
// inventory's groups and hosts; shown is base as messages spell it.
func (inv *Inventory) loadVarsDir(base, shown string, cache map[string]varsFile, ds *diag.Diagnostics) *varsDir {
	vd := &varsDir{groups: map[string]map[string]any{}, hosts: map[string]map[string]any{},
		groupPos: map[string]map[string]diag.Pos{}, hostPos: map[string]map[string]diag.Pos{}}
	var groupNames, hostNames []string
	for _, g := range inv.groups {
		groupNames = append(groupNames, g.name)
	}
	for _, h := range inv.hosts {
		hostNames = append(hostNames, h.Name)
	}
	loadEntities(filepath.Join(base, "group_vars"), filepath.Join(shown, "group_vars"), groupNames, vd.groups, vd.groupPos, cache, ds)
	loadEntities(filepath.Join(base, "host_vars"), filepath.Join(shown, "host_vars"), hostNames, vd.hosts, vd.hostPos, cache, ds)
	return vd
}

// WithPlaybookDir returns the inventory with the group_vars/ and host_vars/
// beside a playbook (in dir) added, as ansible-playbook reads them: each
// one just above its inventory counterpart (the playbook's group_vars/all
// over the inventory's group_vars/all, and so on; host_vars/ highest). The
// receiver is unchanged.
func (inv *Inventory) WithPlaybookDir(dir string) (*Inventory, diag.Diagnostics) {
	var ds diag.Diagnostics
	out := &Inventory{
		hosts: inv.hosts, hostByKey: inv.hostByKey, groups: inv.groups, groupByID: inv.groupByID,
		sources: inv.sources, shown: inv.shown, varsDirs: inv.varsDirs,
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		ds.Addf(diag.Pos{File: dir}, "playbook directory: %v", err)
		return inv, ds
	}
	out.playDirs = append(slices.Clone(inv.playDirs), out.loadVarsDir(abs, dir, map[string]varsFile{}, &ds))
	out.computeVars(&ds)
	ds.Sort()
	return out, ds
}

func loadEntities(dir, shownDir string, names []string, into map[string]map[string]any, intoPos map[string]map[string]diag.Pos, cache map[string]varsFile, ds *diag.Diagnostics) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // no such directory: nothing to add
	}
	present := map[string]bool{}
	for _, e := range entries {
		present[e.Name()] = true
	}
	for _, name := range names {
		if name == "" || name == "." || name == ".." || strings.ContainsRune(name, filepath.Separator) {
			continue // never a path outside the vars directory
		}
		for _, ext := range varsExts {
			if !present[name+ext] {
				continue
			}
			full, shown := filepath.Join(dir, name+ext), filepath.Join(shownDir, name+ext)
			var files, showns []string
			if fi, err := os.Stat(full); err == nil && fi.IsDir() {
				files, showns = varsDirFiles(full, shown)
			} else {
				files, showns = []string{full}, []string{shown}
			}
			vars := map[string]any{}
			at := map[string]diag.Pos{}
			for k, f := range files {
				m, ok := cache[f]
				if !ok {
					m.vars, m.pos = loadVarsFile(f, showns[k], ds)
					cache[f] = m
				}
				for key, v := range m.vars {
					vars[key] = v
					at[key] = m.pos[key]
				}
			}
			into[name] = vars
			intoPos[name] = at
			break
		}
	}
}

// varsDirFiles lists the vars files of a group_vars/NAME/ directory as
// Ansible does: sorted, recursively, skipping hidden files and backups~,
// taking files with no extension or .yml, .yaml, .json.
func varsDirFiles(dir, shown string) (files, showns []string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") {
			continue
		}
		full, sh := filepath.Join(dir, n), filepath.Join(shown, n)
		ext := filepath.Ext(n)
		fi, err := os.Stat(full)
		if err != nil {
			continue
		}
		switch {
		case fi.IsDir() && ext == "":
			f, s := varsDirFiles(full, sh)
			files, showns = append(files, f...), append(showns, s...)
		case !fi.IsDir() && (ext == "" || ext == ".yml" || ext == ".yaml" || ext == ".json"):
			files, showns = append(files, full), append(showns, sh)
		}
	}
	return files, showns
}

// loadVarsFile reads one YAML (or JSON) vars file, which must be a mapping,
// and says where each top-level key is.
func loadVarsFile(path, shown string, ds *diag.Diagnostics) (map[string]any, map[string]diag.Pos) {
	data, err := os.ReadFile(path)
	if err != nil {
		ds.Addf(diag.Pos{File: shown}, "vars file: %v", cleanPathErr(err))
		return nil, nil
	}
	doc, yds := parseYAMLDoc(shown, data)
	if len(yds) > 0 {
		*ds = append(*ds, yds...)
		return nil, nil
	}
	if doc == nil {
		return nil, nil
	}
	if !isMapping(doc) {
		ds.Addf(nodePos(shown, doc), "a vars file must be a mapping of variable names, got %s", kindName(doc))
		return nil, nil
	}
	c := &yamlConv{ds: ds}
	v, err := c.value(shown, doc)
	if err != nil {
		addErr(ds, nodePos(shown, doc), err)
		return nil, nil
	}
	m, _ := v.(map[string]any)
	at := map[string]diag.Pos{}
	// a second pass for the positions only: its problems were reported above
	pc := &yamlConv{ds: &diag.Diagnostics{}}
	for _, p := range pc.pairs(shown, deref(doc)) {
		at[p.key] = nodePos(shown, p.kNode)
	}
	return m, at
}
