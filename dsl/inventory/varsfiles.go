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
}

// varsExts are the names Ansible tries for an entity, in order; the first
// that exists is used (a directory of files included).
var varsExts = []string{"", ".yml", ".yaml", ".json"}

// loadVarsDirs reads group_vars/NAME and host_vars/NAME beside each source
// (for a directory source, inside it), for every group and host.
func (inv *Inventory) loadVarsDirs(ds *diag.Diagnostics) {
	cache := map[string]map[string]any{} // file -> vars, so a file is read (and reported) once
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
func (inv *Inventory) loadVarsDir(base, shown string, cache map[string]map[string]any, ds *diag.Diagnostics) *varsDir {
	vd := &varsDir{groups: map[string]map[string]any{}, hosts: map[string]map[string]any{}}
	var groupNames, hostNames []string
	for _, g := range inv.groups {
		groupNames = append(groupNames, g.name)
	}
	for _, h := range inv.hosts {
		hostNames = append(hostNames, h.Name)
	}
	loadEntities(filepath.Join(base, "group_vars"), filepath.Join(shown, "group_vars"), groupNames, vd.groups, cache, ds)
	loadEntities(filepath.Join(base, "host_vars"), filepath.Join(shown, "host_vars"), hostNames, vd.hosts, cache, ds)
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
	out.playDirs = append(slices.Clone(inv.playDirs), out.loadVarsDir(abs, dir, map[string]map[string]any{}, &ds))
	out.computeVars(&ds)
	ds.Sort()
	return out, ds
}

func loadEntities(dir, shownDir string, names []string, into map[string]map[string]any, cache map[string]map[string]any, ds *diag.Diagnostics) {
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
			for k, f := range files {
				m, ok := cache[f]
				if !ok {
					m = loadVarsFile(f, showns[k], ds)
					cache[f] = m
				}
				for key, v := range m {
					vars[key] = v
				}
			}
			into[name] = vars
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

// loadVarsFile reads one YAML (or JSON) vars file, which must be a mapping.
func loadVarsFile(path, shown string, ds *diag.Diagnostics) map[string]any {
	data, err := os.ReadFile(path)
	if err != nil {
		ds.Addf(diag.Pos{File: shown}, "vars file: %v", cleanPathErr(err))
		return nil
	}
	doc, yds := parseYAMLDoc(shown, data)
	if len(yds) > 0 {
		*ds = append(*ds, yds...)
		return nil
	}
	if doc == nil {
		return nil
	}
	if !isMapping(doc) {
		ds.Addf(nodePos(shown, doc), "a vars file must be a mapping of variable names, got %s", kindName(doc))
		return nil
	}
	c := &yamlConv{ds: ds}
	v, err := c.value(shown, doc)
	if err != nil {
		addErr(ds, nodePos(shown, doc), err)
		return nil
	}
	m, _ := v.(map[string]any)
	return m
}
