package engine

import (
	"testing"

	"kplay/diag"
)

// TestConnVarsAgree: the static check refuses exactly the connection
// variables that building the HostSpec (or routing it to a dialer) refuses
// at connect time, since both read them with the same functions.
func TestConnVarsAgree(t *testing.T) {
	conns := []string{"local", "ssh"}
	tests := []struct {
		name string
		vars map[string]any
	}{
		{"no vars", map[string]any{}},
		{"port ok", map[string]any{"ansible_port": 22}},
		{"port string ok", map[string]any{"ansible_port": "2222"}},
		{"port word", map[string]any{"ansible_port": "abc"}},
		{"port too big", map[string]any{"ansible_port": 70000}},
		{"port zero", map[string]any{"ansible_port": 0}},
		{"ssh port used when port unset", map[string]any{"ansible_ssh_port": "x"}},
		{"port wins over ssh port", map[string]any{"ansible_port": 22, "ansible_ssh_port": "x"}},
		{"templated port", map[string]any{"ansible_port": "{{ p }}", "p": 65536}},
		{"templated port ok", map[string]any{"ansible_port": "{{ p + 1 }}", "p": 21}},
		{"connection smart", map[string]any{"ansible_connection": "smart"}},
		{"connection paramiko", map[string]any{"ansible_connection": "paramiko"}},
		{"connection unknown", map[string]any{"ansible_connection": "winrm"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := hostSpec("h", func(k string) (any, bool) {
				v, ok := tc.vars[k]
				if s, isStr := v.(string); isStr && isTemplate(s) {
					r, rerr := renderRaw(newExprCache(), v, tc.vars, k)
					return r, rerr == nil
				}
				return v, ok
			})
			runtimeBad := err != nil
			if err == nil {
				_, known := Dialers{"local": nil, "ssh": nil}[spec.Connection]
				runtimeBad = !known
			}
			src := func(string) varSource { return varSource{name: "test"} }
			ds := checkConnVars(newExprCache(), "h", tc.vars, src, CheckOptions{Connections: conns})
			if staticBad := len(ds) > 0; staticBad != runtimeBad {
				t.Errorf("static check %v, connect time %v (%v)", diag.Diagnostics(ds), err, spec.Connection)
			}
		})
	}
}
