package all

import (
	"testing"

	"kplay/modules"
)

// TestEveryModuleDocumented: `kplay doc` has something to say about every
// module and every argument.
func TestEveryModuleDocumented(t *testing.T) {
	want := []string{"assert", "command", "copy", "debug", "file", "set_fact", "shell", "template"}
	for _, n := range want {
		if _, ok := modules.Lookup("ansible.builtin." + n); !ok {
			t.Errorf("%s is not registered", n)
		}
	}
	for _, m := range modules.All() {
		info := m.Info()
		t.Run(info.Name, func(t *testing.T) {
			if info.Summary == "" || info.Doc == "" || info.CheckMode == "" || info.Returns == "" {
				t.Errorf("Info lacks Summary, Doc, CheckMode or Returns")
			}
			seen := map[string]bool{}
			for _, a := range info.Args {
				if a.Doc == "" || a.Type == "" {
					t.Errorf("argument %q lacks Doc or Type", a.Name)
				}
				for _, n := range append([]string{a.Name}, a.Aliases...) {
					if seen[n] {
						t.Errorf("argument name %q declared twice", n)
					}
					seen[n] = true
				}
			}
			if info.FreeForm != "" && !seen[info.FreeForm] {
				t.Errorf("FreeForm %q is not an argument", info.FreeForm)
			}
		})
	}
}
