package dsl

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestTemplateRender(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"plain", "no markup", "no markup"},
		{"expr", "port={{ item.port }}", "port=80"},
		{"filters", "{{ xs | unique | join(' ') }}", "b a"},
		{"bool and null", "{{ 1 == 1 }} {{ nothing }}", "true "},
		{"list as json", "{{ nums }}", "[3, 1, 2]"},
		{"if", "{% if foo == 'bar' %}yes{% endif %}", "yes"},
		{"elif else", "{% if foo == 'x' %}1{% elif foo == 'y' %}2{% else %}3{% endif %}", "3"},
		{"elif taken", "{% if foo == 'x' %}1{% elif foo == 'bar' %}2{% else %}3{% endif %}", "2"},
		{"for loop.index", "{% for x in xs %}{{ loop.index }}:{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", "1:b,2:a,3:b"},
		{"for over map", "{% for k in d %}{{ k }}{% endfor %}", "ab"},
		{"for items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;"},
		{"for dict2items", "{% for e in d | dict2items %}{{ e.key }}{% endfor %}", "ab"},
		{"for else", "{% for x in [] %}x{% else %}none{% endfor %}", "none"},
		{"for if", "{% for u in users if u.admin %}{{ u.name }}{% endfor %}", "b"},
		{"nested loops", "{% for a in [1,2] %}{% for b in ['x'] %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}", "1x112x12"},
		{"loop var scoped", "{% for x in xs %}{% endfor %}{{ x | default('gone') }}", "gone"},
		{"comment", "a{# hidden {{ x }} #}b", "ab"},
		{"unclosed comment is text", "n=${#xs[@]} {{ foo }}", "n=${#xs[@]} bar"},
		{"long or chain", "{{ x is defined or y is defined or z is defined or w is defined or foo }}", "bar"},
		{"plus keeps newline", "{% if true +%}\nx{%+ endif %}", "\nx"},
		{"trim_blocks", "{% if true %}\nline\n{% endif %}\nend", "line\nend"},
		{"whitespace control", "a  {%- if true -%}  \n b {%- endif %}", "ab"},
		{"expr whitespace control", "a\n  {{- foo -}}\n  b", "abarb"},
		{"set", "{% set y = foo | upper %}{{ y }}", "BAR"},
		{"set in if is seen after", "{% if true %}{% set y = 1 %}{% endif %}{{ y }}", "1"},
		{"raw", "{% raw %}{{ not rendered }}{% endraw %}", "{{ not rendered }}"},
		{"braces in strings", "{{ '}}' ~ foo }}", "}}bar"},
		{"map literal", "{{ {'a': {'b': 1}}.a.b }}", "1"},
		{"defined guard", "{% if x is defined %}{{ x }}{% else %}no x{% endif %}", "no x"},
		{"kube flags", "--leader-elect={{ true | string | lower }}\n--master={{ hostvars[groups.masters[0]].ansible_host }}", "--leader-elect=true\n--master=10.0.0.1"},
	}
	vars := testVars()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := ParseTemplate(tt.src, Pos{File: "t.j2", Line: 1, Col: 1})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := tpl.Render(vars)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTemplateFileEscapes(t *testing.T) {
	// In a template file Jinja's string escapes apply; in a playbook string
	// a backslash is itself, as in Ansible.
	file, err := ParseTemplateFile(`{{ 'a\nb' }}|{{ 'x' | regex_replace('x', '\\\\') }}`, Pos{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := file.Render(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\nb|\\"; got != want {
		t.Errorf("template file: got %q, want %q", got, want)
	}
	inline, err := ParseTemplate(`{{ 'a\nb' }}`, Pos{})
	if err != nil {
		t.Fatal(err)
	}
	got, err = inline.Render(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `a\nb`; got != want {
		t.Errorf("playbook string: got %q, want %q", got, want)
	}
}

func TestTemplateEvalKeepsType(t *testing.T) {
	tests := []struct {
		src  string
		want any
	}{
		{"{{ xs }}", []any{"b", "a", "b"}},
		{"{{ item.port }}", 80},
		{"  {{ item.port }}  ", "  80  "},
		{"{{ item.port }}{{ foo }}", "80bar"},
		{"{{ d }}", map[string]any{"a": 1, "b": 2}},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			tpl, err := ParseTemplate(tt.src, Pos{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Eval(testVars())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unclosed expr", "a\nb {{ foo", "t.j2:2:3: {{ is not closed: missing }}"},
		{"unclosed tag", "{% if x", "t.j2:1:1: {% is not closed: missing %}"},
		{"missing endif", "x\n{% if foo %}\nyes", "t.j2:2:1: {% if %} is not closed: missing {% endif %}"},
		{"missing endfor", "{% for x in xs %}", "t.j2:1:1: {% for %} is not closed: missing {% endfor %}"},
		{"stray endif", "a\n  {% endif %}", "t.j2:2:3: unexpected {% endif %}"},
		{"stray else", "{% else %}", "t.j2:1:1: unexpected {% else %}"},
		{"unknown tag", "{% endiff %}", `t.j2:1:4: unknown tag {% endiff %} (did you mean "endif"?)`},
		{"macro", "{% macro m() %}", "t.j2:1:4: unknown tag {% macro %} (kplay templates have if/elif/else, for, set and raw)"},
		{"bad expr position", "line1\n  x = {{ foo | lenght }}", `t.j2:2:16: unknown function or filter "lenght" (did you mean "length"?)`},
		{"bad if expr", "{% if foo is defind %}{% endif %}", `t.j2:1:14: unknown test "defind" (did you mean "defined"?)`},
		{"bad for", "{% for in xs %}{% endfor %}", "t.j2:1:1: {% for %} needs `name in list`"},
		{"empty expr", "{{ }}", "t.j2:1:1: empty {{ }}"},
		{"for bad name", "{% for 1x in xs %}{% endfor %}", `t.j2:1:7: {% for %}: "1x" is not a variable name`},
		{"set no value", "{% set x %}", "t.j2:1:1: {% set %} needs `name = value`"},
		{"else after else", "{% if a %}{% else %}{% else %}{% endif %}", "t.j2:1:21: {% else %} after {% else %}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTemplate(tt.src, Pos{File: "t.j2", Line: 1, Col: 1})
			if err == nil {
				t.Fatalf("parsed, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestTemplateRenderErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"undefined", "a\n  {{ nope }}", `t.j2:2:6: undefined variable "nope"`},
		{"undefined in if", "{% if nope %}{% endif %}", `t.j2:1:7: undefined variable "nope"`},
		{"attr", "{{ item.nme }}", `t.j2:1:9: item has no attribute "nme"`},
		{"loop over number", "{% for x in item.port %}{% endfor %}", "t.j2:1:13: {% for %} cannot loop over an int"},
		{"unpack", "{% for a, b in xs %}{% endfor %}", "t.j2:1:1: {% for a, b %}: cannot unpack a string into 2 names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := ParseTemplate(tt.src, Pos{File: "t.j2", Line: 1, Col: 1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = tpl.Render(testVars())
			if err == nil {
				t.Fatalf("rendered, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestTemplateNames(t *testing.T) {
	tpl, err := ParseTemplate("{{ a }}{% for x in xs %}{{ x }}{{ loop.index }}{% set s = b %}{{ s }}{% endfor %}{% if c is defined %}{{ c }}{% endif %}{{ d | default(e) }}", Pos{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "e", "xs"}
	if got := tpl.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestLoadTemplateFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kcm.conf.j2")
	if err := os.WriteFile(p, []byte("# kcm\n{% for m in groups.masters %}\nserver {{ hostvars[m].ansible_host }}\n{% endfor %}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, err := LoadTemplateFile(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(testVars())
	if err != nil {
		t.Fatal(err)
	}
	if want := "# kcm\nserver 10.0.0.1\nserver 10.0.0.2\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	bad := filepath.Join(dir, "bad.j2")
	if err := os.WriteFile(bad, []byte("ok\n{{ x | nofilter }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadTemplateFile(bad)
	if err == nil || !strings.HasPrefix(err.Error(), bad+":2:8: unknown function or filter") {
		t.Errorf("error %v, want %s:2:8: unknown function or filter ...", err, bad)
	}
	if _, err := LoadTemplateFile(filepath.Join(dir, "missing.j2")); err == nil {
		t.Error("no error for a missing file")
	}
}
