package dsl

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// ansibleExprs are expressions whose value kplay means to give exactly as
// Ansible does. (Where kplay differs on purpose it is not listed: mapping
// order, which Go maps do not keep, and true/false rendered in lower case.)
var ansibleExprs = []string{
	"xs | unique", "nums | sort", "nums | sort(reverse=true)", "xs | length", "xs | first", "xs | last",
	"'1.10' is version('1.9', '>')", "v is version('1.20', '>=')", "v is version('1.22', 'lt')",
	"'abc' | int", "'12' | int + 1", "'3.5' | float", "flag | bool", "'no' | bool",
	"foo | regex_search('a.')", "foo | regex_search('zz')", "r.stdout | regex_replace('a(c)', 'x\\\\1')", "r.stdout | regex_replace('a(c)', 'x\\1')",
	"r.stdout | regex_search('i(\\w)')", "foo | regex_replace('(?P<x>a)', '\\g<x>$')",
	"'x y' | quote", "xs | join(',')", "nums | max", "nums | min", "nums | sum", "'a,b' | split(',')",
	"x | default('z')", "empty | default('z', true)", "nothing | default('z')",
	"r.rc == 0 and 'active' in r.stdout", "r is succeeded", "bad is failed", "bad is not failed", "r is changed",
	"item.name ~ '-' ~ item.port", "foo | upper", "'  x ' | trim", "'hi' | b64encode", "'aGk=' | b64decode",
	"[1, 2] | union([2, 3])", "[1, 2] | difference([2])", "[1, 2] | intersect([2, 3])",
	"path | basename", "path | dirname", "foo | replace('a', 'o')", "(json | from_json).port",
	"users | selectattr('admin') | map(attribute='name') | list", "users | rejectattr('admin') | list | length",
	"grp.masters | map('extract', hv, 'ansible_host') | list", "not foo == 'x'", "foo is match('b.r')",
	"foo is search('ar')", "'%s:%d' | format(foo, 3)", "nothing is none", "r.stdout_lines[-1]", "xs[1:]",
	"range(3) | list", "'x\\ny' | indent(2)", "foo | hash('md5')", "foo | hash('sha1')", "true | ternary('on', 'off')",
	"[[1], [2]] | flatten", "users | sort(attribute='name') | map(attribute='name') | list",
	"foo or 'fallback'", "empty or 'fallback'", "x is defined and x > 1", "foo is defined and flag | bool",
	"xs | select('equalto', 'a') | list", "d | to_json", "[1, 'x', {'k': [true, None]}] | to_json",
	"d.get('z', 9)", "foo.startswith('b')", "','.join(xs)", "'a b'.split()", "d.items() | list | length",
	"foo is string", "item.port is number", "d is mapping", "xs is sequence", "'A' | lower",
	"xs + ['c']", "(nums | sort)[0] * 2", "'abc'[1:]", "foo | length > 2", "r.stdout is search('ACTIVE', ignorecase=true)",
	"nums | map('string') | list", "'yes' if foo == 'bar' else 'no'", "1 if empty else 2 if foo else 3",
	"['a' if true else 'b', 'c' if false else 'd']", "xs | join(',' if foo else ';')", "d | ansible.builtin.to_json",
	"users.0.name", "{item.name: item.port}", "{'a': {foo ~ 'x': [1, {item.name: 2}]}}", "item.port is divisibleby 4", "'a' is in xs", "'z' is not in xs and true", "item.port // 3", "7 % 3", "2 ** 10", "10 / 4", "'x' in xs", "'b' in d", "{'a': 1}.a", "nums | reverse | list",
}

func TestExprMatchesAnsible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ansible-playbook (a few seconds)")
	}
	bin, err := exec.LookPath("ansible-playbook")
	if err != nil {
		t.Fatalf("ansible-playbook is needed to compare expressions with Ansible (apt-get install ansible-core, or make deps): %v", err)
	}
	vars := testVars()
	// Ansible reserves hostvars and groups; the same values go by other names.
	vars["hv"], vars["grp"] = vars["hostvars"], vars["groups"]
	delete(vars, "hostvars")
	delete(vars, "groups")
	// One task renders every expression: ansible-playbook pays its start-up
	// cost per task.
	msg := "{{ ["
	for i, src := range ansibleExprs {
		if i > 0 {
			msg += ", "
		}
		msg += "((" + src + ") | to_json)"
	}
	msg += "] | to_json }}"
	dir := t.TempDir()
	tplPath := filepath.Join(dir, "file.j2")
	if err := os.WriteFile(tplPath, []byte(ansibleTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	rendered := filepath.Join(dir, "rendered")
	tasks := []map[string]any{
		{"debug": map[string]any{"msg": msg}},
		{"template": map[string]any{"src": tplPath, "dest": rendered}},
	}
	play := []map[string]any{{"hosts": "localhost", "gather_facts": false, "vars": vars, "tasks": tasks}}
	b, err := json.Marshal(play)
	if err != nil {
		t.Fatal(err)
	}
	pbPath := filepath.Join(dir, "cmp.yml")
	if err := os.WriteFile(pbPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-i", "localhost,", "-c", "local", pbPath)
	cmd.Env = append(os.Environ(), "ANSIBLE_STDOUT_CALLBACK=json", "ANSIBLE_LOCAL_TEMP="+dir, "ANSIBLE_HOME="+dir,
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_DEPRECATION_WARNINGS=0")
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("ansible-playbook: %v", err)
	}
	var res struct {
		Plays []struct {
			Tasks []struct {
				Hosts map[string]struct {
					Msg    any  `json:"msg"`
					Failed bool `json:"failed"`
				}
			}
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ansible-playbook output: %v\n%s", err, out)
	}
	if len(res.Plays) != 1 || len(res.Plays[0].Tasks) != 2 {
		t.Fatalf("ansible-playbook ran %d plays, want 1 with 2 tasks\n%s", len(res.Plays), out)
	}
	t.Run("template file", func(t *testing.T) {
		want, err := os.ReadFile(rendered)
		if err != nil {
			t.Fatalf("Ansible rendered nothing: %v\n%s", err, out)
		}
		tpl, err := LoadTemplateFile(tplPath)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tpl.Render(vars)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("kplay rendered\n%q\nAnsible rendered\n%q", got, want)
		}
	})
	h := res.Plays[0].Tasks[0].Hosts["localhost"]
	if h.Failed {
		t.Fatalf("Ansible failed: %v", h.Msg)
	}
	var wants []string
	if s, ok := h.Msg.(string); !ok || json.Unmarshal([]byte(s), &wants) != nil || len(wants) != len(ansibleExprs) {
		t.Fatalf("Ansible's answer is not %d JSON strings: %v", len(ansibleExprs), h.Msg)
	}
	for i, src := range ansibleExprs {
		t.Run(src, func(t *testing.T) {
			want := wants[i]
			e, err := CompileExpr(src, Pos{})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			v, err := e.Eval(vars)
			if err != nil {
				t.Fatalf("eval: %v (Ansible gives %s)", err, want)
			}
			got, err := marshalJSON(v, false)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("kplay %s, Ansible %s", got, want)
			}
		})
	}
}

// ansibleTemplate exercises whitespace control, trim_blocks, loops, tests
// and escapes in a template file, rendered by both kplay and Ansible.
const ansibleTemplate = `# {{ foo }} config
{% for u in users %}
user {{ loop.index }}/{{ loop.length }}: {{ u.name }}{% if u.admin %} (admin){% endif %}

{% endfor %}
{%- if foo == 'bar' %}
  bar is set
{% elif foo == 'baz' -%}
  baz
{%- else %}
  other
{% endif %}
{# a comment #}
{% set port = item.port + 1 %}
port={{ port }}
{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}

{% for x in [] %}never{% else %}empty loop{% endfor %}

escaped: {{ 'tab\there' }} {{ 'a.b' | regex_replace('\\.', '-') }} {{ 'q\'s' }}
masters: {{ grp.masters | map('extract', hv, 'ansible_host') | join(',') }}
{% raw %}{{ raw }}{% endraw %}
  {{- '  trimmed' }}
last line without newline`
