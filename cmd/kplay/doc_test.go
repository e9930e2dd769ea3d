package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kplay/modules"
)

// TestModulesMarkdownUpToDate keeps docs/modules.md what the registry says:
// a module added or an argument changed without regenerating fails here.
func TestModulesMarkdownUpToDate(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(t.Context(), []string{"doc", "--markdown"}, &out, &errs); code != exitOK {
		t.Fatalf("kplay doc --markdown: exit %d: %s", code, errs.String())
	}
	path := filepath.Join("..", "..", "docs", "modules.md")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with: make docs)", err)
	}
	if got := out.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		line := 0
		for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
			line++
		}
		var g, w string
		if line < len(gl) {
			g = gl[line]
		}
		if line < len(wl) {
			w = wl[line]
		}
		t.Fatalf("docs/modules.md differs from `kplay doc --markdown` at line %d:\n  file:      %q\n  generated: %q\nregenerate with: make docs (or go run ./cmd/kplay doc --markdown > docs/modules.md)", line+1, w, g)
	}
}

// TestModulesMarkdownCoversRegistry checks the generator itself: every
// module, every argument and every alias appears in the output.
func TestModulesMarkdownCoversRegistry(t *testing.T) {
	var out bytes.Buffer
	writeMarkdown(&out, modules.All())
	md := out.String()
	for _, m := range modules.All() {
		in := m.Info()
		t.Run(in.Name, func(t *testing.T) {
			if !strings.Contains(md, "\n## "+in.Name+"\n") {
				t.Errorf("no section for %s", in.Name)
			}
			sec := md[strings.Index(md, "\n## "+in.Name+"\n")+1:]
			if i := strings.Index(sec[3:], "\n## "); i >= 0 {
				sec = sec[:i+3]
			}
			for _, a := range in.Args {
				if !strings.Contains(sec, "| `"+a.Name+"` | "+string(a.Type)+" |") {
					t.Errorf("argument %s missing from the %s table", a.Name, in.Name)
				}
				for _, al := range a.Aliases {
					if !strings.Contains(sec, "`"+al+"`") {
						t.Errorf("alias %s of %s missing", al, a.Name)
					}
				}
			}
			if in.CheckMode != "" && !strings.Contains(sec, "\nCheck mode: ") {
				t.Errorf("check mode missing")
			}
			if in.Returns != "" && !strings.Contains(sec, "\nReturns: ") {
				t.Errorf("returns missing")
			}
		})
	}
}
