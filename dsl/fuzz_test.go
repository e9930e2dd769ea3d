package dsl

import (
	"os"
	"path/filepath"
	"testing"
)

// The fuzz targets check that no input makes the parsers or the evaluator
// panic or hang, and that what compiles evaluates without a panic.

func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		"x is defined", "x | default(3)", "r.rc == 0", "'active' in r.stdout", "item.name",
		"v is version('1.20', '>=')", "xs | sort(attribute='name') | map(attribute='name') | list",
		"foo ~ 'x' ~ 1", "not a or b and c", "d.items()", "x if y else z", "a[1:2]", "{'a': [1, {'b': x}]}",
		"hostvars[inventory_hostname].ansible_host | default('none')", "let a = 1; a + 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := CompileExpr(src, Pos{File: "f", Line: 1, Col: 1})
		if err != nil {
			return
		}
		_, _ = e.Eval(testVars())
		_ = e.Names()
	})
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"{{ x }}", "a {% if x %}b{% elif y %}c{% else %}d{% endif %}",
		"{% for x in xs %}{{ loop.index }}{% else %}none{% endfor %}", "{# c #}{%- if a -%} x {%- endif -%}",
		"{% set y = 1 %}{{ y }}", "{% raw %}{{ x }}{% endraw %}", "{{ '}}' }}", "{% for k, v in d.items() %}{{ k }}{% endfor %}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := ParseTemplate(src, Pos{File: "f", Line: 1, Col: 1})
		if err != nil {
			return
		}
		_, _ = tpl.Render(testVars())
		_ = tpl.Names()
	})
}

// FuzzParsePlaybook feeds the parser arbitrary YAML; the good and bad
// inputs in testdata are the seeds, besides testdata/fuzz/FuzzParsePlaybook.
func FuzzParsePlaybook(f *testing.F) {
	for _, pattern := range []string{"testdata/good/*.yml", "testdata/bad/*.yml"} {
		files, _ := filepath.Glob(pattern)
		for _, path := range files {
			b, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	schemas := testSchemas()
	f.Fuzz(func(t *testing.T, src []byte) {
		pb, ds := ParsePlaybook("fuzz.yml", src, schemas)
		if pb == nil {
			t.Fatal("nil playbook")
		}
		for _, d := range ds {
			if d.Pos.File != "fuzz.yml" || d.Msg == "" {
				t.Fatalf("bad diagnostic %q at %v", d.Msg, d.Pos)
			}
		}
		_ = pb.CheckNames(func(string) bool { return false })
	})
}
