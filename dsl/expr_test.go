package dsl

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func testVars() Vars {
	return Vars{
		"r": map[string]any{"rc": 0, "stdout": "unit is active now", "stderr": "", "failed": false,
			"changed": true, "stdout_lines": []any{"a", "b"}},
		"bad":      map[string]any{"rc": 2, "failed": true, "changed": false, "skipped": false},
		"xs":       []any{"b", "a", "b"},
		"nums":     []any{3, 1, 2},
		"v":        "1.21.3",
		"n":        "5",
		"item":     map[string]any{"name": "web", "port": 80},
		"foo":      "bar",
		"empty":    "",
		"flag":     "yes",
		"users":    []any{map[string]any{"name": "b", "admin": true}, map[string]any{"name": "a", "admin": false}},
		"hostvars": map[string]any{"m1": map[string]any{"ansible_host": "10.0.0.1"}, "m2": map[string]any{"ansible_host": "10.0.0.2"}},
		"groups":   map[string]any{"masters": []any{"m1", "m2"}},
		"d":        map[string]any{"b": 2, "a": 1},
		"path":     "/etc/kubernetes/kcm.conf",
		"json":     `{"port": 6443, "tls": true}`,
		"nothing":  nil,
	}
}

func TestExprEval(t *testing.T) {
	tests := []struct {
		src  string
		want any
	}{
		{"x is defined", false},
		{"foo is defined", true},
		{"x is not defined", true},
		{"x is undefined", true},
		{"x | default(3)", 3},
		{"x | d('z')", "z"},
		{"empty | default('z', true)", "z"},
		{"empty | default('z')", ""},
		{"r.nope | default('d')", "d"},
		{"r.nope is defined", false},
		{"r.rc is defined", true},
		{"hostvars.m9.ansible_host | default('none')", "none"},
		{"r.rc == 0", true},
		{"r['rc'] != 0", false},
		{"'active' in r.stdout", true},
		{"'x' not in r.stdout", true},
		{"'a' in xs", true},
		{"'b' in d", true},
		{"item.name", "web"},
		{"item['port'] + 1", 81},
		{"True and not False", true},
		{"None", nil},
		{"nothing is none", true},
		{"foo or 'fallback'", "bar"},
		{"empty or 'fallback'", "fallback"},
		{"r.rc == 0 and 'active' in r.stdout", true},
		{"x is defined and x > 1", false},
		{"foo is defined and flag | bool", true},
		{"n | int + 1", 6},
		{"'3.5' | float", 3.5},
		{"'abc' | int", 0},
		{"'0x1f' | int(base=16)", 31},
		{"flag | bool", true},
		{"'no' | bool", false},
		{"5 | string", "5"},
		{"xs | length", 3},
		{"xs | count", 3},
		{"7 // 2", 3},
		{"-7 // 2", -4},
		{"7.5 // 2", 3.0},
		{"d | ansible.builtin.to_json", `{"a": 1, "b": 2}`},
		{"foo | upper", "BAR"},
		{"'  x ' | trim", "x"},
		{"'A' | lower", "a"},
		{"xs | join(',')", "b,a,b"},
		{"'a,b' | split(',')", []any{"a", "b"}},
		{"foo | replace('a', 'o')", "bor"},
		{"xs | first", "b"},
		{"xs | last", "b"},
		{"xs | unique", []any{"b", "a"}},
		{"nums | sort", []any{1, 2, 3}},
		{"nums | sort(reverse=true)", []any{3, 2, 1}},
		{"users | sort(attribute='name') | map(attribute='name') | list", []any{"a", "b"}},
		{"users | selectattr('admin') | map(attribute='name') | first", "b"},
		{"users | rejectattr('admin') | length", 1},
		{"xs | select('equalto', 'a') | list", []any{"a"}},
		{"groups.masters | map('extract', hostvars, 'ansible_host') | list", []any{"10.0.0.1", "10.0.0.2"}},
		{"d | to_json", `{"a": 1, "b": 2}`},
		{"[1, 'x', {'k': [true, None]}] | to_json", `[1, "x", {"k": [true, null]}]`},
		{"d | to_nice_json", "{\n    \"a\": 1,\n    \"b\": 2\n}"},
		{"(json | from_json).port == 6443", true},
		{"d | to_yaml", "a: 1\nb: 2\n"},
		{"'a: [1, 2]' | from_yaml", map[string]any{"a": []any{1, 2}}},
		{"path | basename", "kcm.conf"},
		{"path | dirname", "/etc/kubernetes"},
		{"r.stdout | regex_search('is (\\w+)', '\\1')", []any{"active"}},
		{"r.stdout | regex_search('\\d+')", nil},
		{"'a\\nb'", "a\\nb"},
		{"'it\\'s'", "it's"},
		{"foo | regex_replace('(a)', '\\\\\\1$')", "b\\a$r"},
		{"r.stdout | regex_search('i.')", "it"},
		{"r.stdout | regex_search('zzz')", nil},
		{"foo | regex_replace('^b(a)', 'X\\1')", "Xar"},
		{"foo | regex_replace('^b(?P<x>a)', '\\g<x>-')", "a-r"},
		{"'hi' | b64encode", "aGk="},
		{"'aGk=' | b64decode", "hi"},
		{"d | combine({'c': 3})", map[string]any{"a": 1, "b": 2, "c": 3}},
		{"{'a': {'x': 1}} | combine({'a': {'y': 2}}, recursive=true)", map[string]any{"a": map[string]any{"x": 1, "y": 2}}},
		{"d | dict2items | map(attribute='key') | list", []any{"a", "b"}},
		{"[{'key': 'k', 'value': 1}] | items2dict", map[string]any{"k": 1}},
		{"version(v, '1.20', '>=')", true},
		{"v is version('1.20', '>=')", true},
		{"v is version('1.22', 'lt')", true},
		{"v is version_compare('1.21.3', '==')", true},
		{"'1.10' is version('1.9', '>')", true},
		{"r is succeeded", true},
		{"r is success", true},
		{"bad is failed", true},
		{"bad is not failed", false},
		{"r is changed", true},
		{"bad is skipped", false},
		{"foo ~ 1", "bar1"},
		{"'port=' ~ item.port", "port=80"},
		{"foo + 'x'", "barx"},
		{"xs + ['c']", []any{"b", "a", "b", "c"}},
		{"foo.startswith('b')", true},
		{"path.endswith('.conf')", true},
		{"d.get('z', 9)", 9},
		{"d.items() | length", 2},
		{"'a b'.split()", []any{"a", "b"}},
		{"','.join(xs)", "b,a,b"},
		{"r.stdout_lines[1]", "b"},
		{"r.stdout_lines[-1]", "b"},
		{"xs[1:]", []any{"a", "b"}},
		{"range(3) | list", []any{0, 1, 2}},
		{"[1, 2] | union([2, 3])", []any{1, 2, 3}},
		{"[1, 2] | difference([2])", []any{1}},
		{"foo is match('b.r')", true},
		{"foo is search('ar')", true},
		{"foo is string", true},
		{"item.port is number", true},
		{"d is mapping", true},
		{"1 < 2 ? 'y' : 'n'", "y"},
		{"foo | quote", "bar"},
		{"'a b' | quote", "'a b'"},
		{"'x\ny' | indent(2)", "x\n  y"},
		{"'%s:%d' | format(foo, 3)", "bar:3"},
		{"true | ternary('on', 'off')", "on"},
		{"foo | hash('md5')", "37b51d194a7513e45b56f6524f2d51f2"},
		{"nums | max", 3},
		{"nums | min", 1},
		{"nums | sum", 6},
		{"[[1], [2]] | flatten", []any{1, 2}},
		{"foo | length > 2", true},
		{"not foo | length > 5", true},
		{"not foo == 'x'", true},
		{"{item.name: item.port}", map[string]any{"web": 80}},
		{"d | combine({foo: 1, 'k': 2, 3: 4})", map[string]any{"a": 1, "b": 2, "bar": 1, "k": 2, "3": 4}},
		{"{'a': {foo ~ 'x': [1, {item.name: 2}]}}", map[string]any{"a": map[string]any{"barx": []any{1, map[string]any{"web": 2}}}}},
		{"item.port is divisibleby 4", true},
		{"'a' is in xs", true},
		{"'z' is not in xs and true", true},
		{"item.port is sameas 80", true},
		{"3 is in [1, 2] or 1 is in nums", true},
		{"'b' is in d.keys()", true},
		{"'yes' if foo == 'bar' else 'no'", "yes"},
		{"'yes' if x is defined else 'no'", "no"},
		{"1 if empty else 2 if foo else 3", 2},
		{"['a' if true else 'b', 'c' if false else 'd']", []any{"a", "d"}},
		{"{'k': 1 if foo else 2}", map[string]any{"k": 1}},
		{"'p' ~ (item.port if item.port > 1 else 0)", "p80"},
		{"xs | join(',' if foo else ';')", "b,a,b"},
		{"'x' if false", nil},
		{"(nums | max) if nums else 0", 3},
		{"v is not version('1.30', '>=')", true},
		{"nothing is not none", false},
		{"foo ? 'y' : 'n'", "y"},
		{"empty ? 'y' : 'n'", "n"},
		{"if xs { 1 } else { 2 }", 1},
		{"users.0.name", "b"},
		{"r.stdout_lines.1", "b"},
		{"[[1, 2]][0].1", 2},
		{"not x is defined and not False", true},
	}
	vars := testVars()
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e, err := CompileExpr(tt.src, Pos{File: "p.yml", Line: 1, Col: 1})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			got, err := e.Eval(vars)
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestExprEvalErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"x", `p.yml:4:7: undefined variable "x"`},
		{"x == 1", `p.yml:4:7: undefined variable "x"`},
		{"foo ~ missing", `p.yml:4:13: undefined variable "missing"`},
		{"r.rcc == 0", `p.yml:4:9: r has no attribute "rcc"`},
		{"hostvars.m1.nope", `p.yml:4:19: hostvars.m1 has no attribute "nope"`},
		{"hostvars[h].x | default(1)", `p.yml:4:16: undefined variable "h"`},
		{"(x | upper) | default('')", `p.yml:4:8: undefined variable "x"`},
		{"xs[7]", `p.yml:4:9: xs[...]: index 7 out of range (length 3)`},
		{"'a' in 5", "p.yml:4:11: `in` needs a list, map or string on its right, not an int"},
		{"r is succeeded and xs is failed", "the test needs a registered result, not a list"},
		{"foo | b64decode", "b64decode: illegal base64 data"},
		{"'1' + 1", "cannot add string and an int"},
		{"x | mandatory", "mandatory variable not defined"},
	}
	vars := testVars()
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e, err := CompileExpr(tt.src, Pos{File: "p.yml", Line: 4, Col: 7})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			_, err = e.Eval(vars)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestExprCompileErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"x is defind", `p.yml:2:11: unknown test "defind" (did you mean "defined"?)`},
		{"x | lenght", `p.yml:2:10: unknown function or filter "lenght" (did you mean "length"?)`},
		{"x = 1", "p.yml:2:8: `=` is not an operator: write `==` to compare"},
		{"lookup('env', 'HOME')", "p.yml:2:6: lookup() plugins are not supported"},
		{"{{ x }}", "p.yml:2:6: an expression here is not a template: write `x == 1`, not `{{ x }} == 1`"},
		{"x ==", "p.yml:2:"},
		{"(x", "p.yml:2:"},
		{"'abc", "p.yml:2:6: unterminated string"},
		{"x.foo(1)", `p.yml:2:8: unknown method "foo"`},
		{"x | ansible.utils.ipaddr('address')", "p.yml:2:10: filter ansible.utils...: only kplay's own filters (Ansible's built-in ones) exist"},
		{"", "p.yml:2:6: empty expression"},
		{"x @ y", `p.yml:2:8: unexpected character '@'`},
		{"{: 1}", "p.yml:2:"},
		{"{'a' 1, }", "p.yml:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := CompileExpr(tt.src, Pos{File: "p.yml", Line: 2, Col: 6})
			if err == nil {
				t.Fatalf("compiled, want error %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestExprNames(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{"r.rc == 0", []string{"r"}},
		{"x is defined", nil},
		{"x | default(y)", []string{"y"}},
		{"x is defined and x > 1", nil},
		{"hostvars[inventory_hostname].ip", []string{"hostvars", "inventory_hostname"}},
		{"xs | map(attribute='name') | join(sep)", []string{"sep", "xs"}},
		{"let a = 1; a + b", []string{"b"}},
		{"filter(xs, # > 1)", []string{"xs"}},
		{"True or None", nil},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e, err := CompileExpr(tt.src, Pos{})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Names(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Names() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExprBool(t *testing.T) {
	tests := []struct {
		src  string
		want bool
	}{
		{"r.rc == 0", true},
		{"flag", true},
		{"'no'", false},
		{"'False'", false},
		{"xs", true},
		{"[]", false},
		{"nothing", false},
		{"0", false},
	}
	vars := testVars()
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e, err := CompileExpr(tt.src, Pos{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Bool(vars)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Bool = %v, want %v", got, tt.want)
			}
		})
	}
}

// Compiling from many goroutines at once is safe too (the engine compiles
// lazily, per host); run with -race.
func TestConcurrentCompile(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				e, err := CompileExpr(fmt.Sprintf("item.port + %d > 1 and xs | length > 0 or r is failed", i), Pos{})
				if err != nil {
					errs <- err
					return
				}
				if _, err := e.Eval(testVars()); err != nil {
					errs <- err
					return
				}
				if _, err := ParseTemplate("{% for x in xs %}{{ x | upper }}{% endfor %}", Pos{}); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// One compiled expression and template, evaluated by many goroutines at once,
// as the engine does with one goroutine per host; run with -race.
func TestConcurrentEval(t *testing.T) {
	e, err := CompileExpr("item.name ~ '-' ~ (xs | sort | join(',')) ~ (r.stdout | regex_replace('a(c)', 'x\\1'))", Pos{})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := ParseTemplate("{% for x in xs %}{{ loop.index }}{{ x }}{% set y = x %}{% endfor %}{{ item.name | upper }}", Pos{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			vars := testVars()
			vars["item"] = map[string]any{"name": fmt.Sprintf("h%d", i)}
			for k := 0; k < 50; k++ {
				got, err := e.Eval(vars)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf("h%d-a,b,b", i) + "unit is xctive now"; got != want {
					errs <- fmt.Errorf("got %q, want %q", got, want)
					return
				}
				out, err := tpl.Render(vars)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf("1b2a3bH%d", i); out != want {
					errs <- fmt.Errorf("render %q, want %q", out, want)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
