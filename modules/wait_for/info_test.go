package wait_for

import (
	"testing"

	"kplay/modules"
)

func TestInfoDocumentsEveryArg(t *testing.T) {
	info := Module{}.Info()
	if info.Summary == "" || info.Doc == "" || info.CheckMode == "" || info.Returns == "" {
		t.Fatalf("incomplete Info: %+v", info)
	}
	for _, a := range info.Args {
		if a.Doc == "" || a.Type == "" {
			t.Errorf("argument %q lacks a type or doc", a.Name)
		}
	}
	if m, ok := modules.Lookup("ansible.builtin." + info.Name); !ok || m.Info().Name != info.Name {
		t.Fatalf("%s is not registered", info.Name)
	}
}
