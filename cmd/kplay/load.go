package main

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"kplay/diag"
	"kplay/dsl"
	"kplay/dsl/inventory"
	"kplay/engine"
	"kplay/transport/ssh"
)

// invAdapter gives the engine host names; the inventory package speaks
// in *Host.
type invAdapter struct{ inv *inventory.Inventory }

func (a invAdapter) Hosts(pattern string) ([]string, error) {
	var hs []*inventory.Host
	var err error
	if hasFilePart(pattern) {
		// --limit @retry-file: patterns read from a file, one a line.
		var all []*inventory.Host
		if all, err = a.inv.Hosts("all"); err == nil {
			hs, err = a.inv.Limit(all, pattern)
		}
	} else {
		hs, err = a.inv.Hosts(pattern)
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out, nil
}

func (a invAdapter) HostVars(name string) map[string]any { return a.inv.HostVars(name) }
func (a invAdapter) Groups() map[string][]string         { return a.inv.Groups() }

// VarPos lets the static check say where a host variable was set.
func (a invAdapter) VarPos(host, name string) (diag.Pos, bool) { return a.inv.VarPos(host, name) }

// checkOptions is what the static check needs: the connection variables
// of the hosts the run touches are checked against the transports dialer
// has, with the ssh transport's own rules.
func checkOptions(inv invAdapter, extra map[string]any, limit string, dialer engine.Dialers) engine.CheckOptions {
	return engine.CheckOptions{
		Inventory: inv, InventoryVars: inv.inv.VarNames(), ExtraVars: extra,
		Limit:        limit,
		Connections:  slices.Sorted(maps.Keys(dialer)),
		ConnVarNames: []string{ssh.VarKnownHosts, ssh.VarHostKeyChecking},
		ConnVarsCheck: func(conn string, vars map[string]any) map[string]error {
			if conn == "ssh" {
				return ssh.CheckVars(vars)
			}
			return nil
		},
	}
}

func hasFilePart(pattern string) bool {
	for _, p := range inventory.SplitPattern(pattern) {
		if strings.HasPrefix(p, "@") {
			return true
		}
	}
	return false
}

// loadInventory reads every -i source; with none, the inventory is empty
// and only the implicit localhost exists, as with ansible-playbook.
func loadInventory(paths []string) (*inventory.Inventory, diag.Diagnostics) {
	return inventory.Load(paths)
}

// forPlaybook adds the group_vars/ and host_vars/ beside a playbook, which
// Ansible reads too and rank above the inventory's own.
func forPlaybook(inv *inventory.Inventory, pb *dsl.Playbook) (invAdapter, diag.Diagnostics) {
	withDir, ds := inv.WithPlaybookDir(filepath.Dir(pb.Path))
	return invAdapter{withDir}, ds
}

// patternWarnings says, as ansible-playbook does, which parts of the plays'
// host patterns match nothing.
func patternWarnings(inv invAdapter, pb *dsl.Playbook) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range pb.Plays {
		_, warns, err := inv.inv.Match(p.Hosts)
		if err != nil {
			continue // reported by the static check
		}
		for _, w := range warns {
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// loadPlaybook parses a playbook, checking task arguments against the
// registered modules.
func loadPlaybook(path string) (*dsl.Playbook, diag.Diagnostics) {
	return dsl.LoadPlaybook(path, engine.ModuleSchemas())
}
