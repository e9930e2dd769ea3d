package main

import (
	"kplay/diag"
	"kplay/dsl"
	"kplay/dsl/inventory"
	"kplay/engine"
)

// invAdapter gives the engine host names; the inventory package speaks
// in *Host.
type invAdapter struct{ inv *inventory.Inventory }

func (a invAdapter) Hosts(pattern string) ([]string, error) {
	hs, err := a.inv.Hosts(pattern)
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

// loadInventory reads every -i source; with none, the inventory is empty
// and only the implicit localhost exists, as with ansible-playbook.
func loadInventory(paths []string) (engine.Inventory, []string, diag.Diagnostics) {
	inv, ds := inventory.Load(paths)
	if inv == nil {
		return nil, nil, ds
	}
	return invAdapter{inv}, inv.VarNames(), ds
}

// loadPlaybook parses a playbook, checking task arguments against the
// registered modules.
func loadPlaybook(path string) (*dsl.Playbook, diag.Diagnostics) {
	return dsl.LoadPlaybook(path, engine.ModuleSchemas())
}
