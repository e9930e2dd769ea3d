package inventory

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeTree creates files (path -> content) under a temp dir and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustLoad(t *testing.T, paths ...string) *Inventory {
	t.Helper()
	inv, ds := Load(paths)
	if ds.Err() != nil {
		t.Fatalf("Load(%v):\n%v", paths, ds.Err())
	}
	return inv
}

func TestExpandHostRange(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"kcm-[1:3]", []string{"kcm-1", "kcm-2", "kcm-3"}, ""},
		{"web[01:03]", []string{"web01", "web02", "web03"}, ""},
		{"web[08:11]", []string{"web08", "web09", "web10", "web11"}, ""},
		{"db-[a:c]", []string{"db-a", "db-b", "db-c"}, ""},
		{"x[y:B]", []string{"xy", "xz", "xA", "xB"}, ""},
		{"n[1:10:3]", []string{"n1", "n4", "n7", "n10"}, ""},
		{"n[a:g:3]", []string{"na", "nd", "ng"}, ""},
		{"[:2]x", []string{"0x", "1x", "2x"}, ""},
		{"r[1:2]c[a:b].lab", []string{"r1ca.lab", "r1cb.lab", "r2ca.lab", "r2cb.lab"}, ""},
		{"plain", []string{"plain"}, ""},
		{"n[5:5]", []string{"n5"}, ""},
		{"n[3:1]", nil, "begin 3 comes after end 1"},
		{"n[c:a]", nil, `begin "c" comes after end "a"`},
		{"n[a:3]", nil, "mixes letters and numbers"},
		{"n[1:c]", nil, "mixes letters and numbers"},
		{"n[1]", nil, "want begin:end"},
		{"n[1:2:3:4]", nil, "want begin:end"},
		{"n[1:]", nil, "no end value"},
		{"n[1:3", nil, "'[' without ']'"},
		{"n[1:3:0]", nil, "not a positive number"},
		{"n[1:3:-1]", nil, "not a positive number"},
		{"n[01:9]", nil, "same width"},
		{"n[0:99999999]", nil, "more than"},
		{"n[0:999]m[0:999]", nil, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandHostRange(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in, host string
		port     int
	}{
		{"web1", "web1", 0},
		{"web1:2222", "web1", 2222},
		{"198.18.0.1:22", "198.18.0.1", 22},
		{"web[1:3]:2200", "web[1:3]", 2200},
		{"web[1:3]", "web[1:3]", 0},
		{"[::1]:2222", "::1", 2222},
		{"fe80::1", "fe80::1", 0},
		{"weird@name:22", "weird@name:22", 0}, // not an address: kept whole, as Ansible does
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, p := splitHostPort(tt.in)
			if h != tt.host || p != tt.port {
				t.Fatalf("splitHostPort(%q) = %q, %d; want %q, %d", tt.in, h, p, tt.host, tt.port)
			}
		})
	}
}

// TestINIValues checks Ansible's typing of INI values (ast.literal_eval,
// else the raw string), as host line and as [g:vars] line.
func TestINIValues(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"22", 22},
		{"-5", -5},
		{"0x1F", 31},
		{"0o17", 15},
		{"1_000", 1000},
		{"0755", "0755"},
		{"00", 0},
		{"1.5", 1.5},
		{"1e3", 1000.0},
		{".5", 0.5},
		{"True", true},
		{"False", false},
		{"None", nil},
		{"true", "true"},
		{"yes", "yes"},
		{"10.0.0.1", "10.0.0.1"},
		{"1.2.3", "1.2.3"},
		{"'quoted'", "quoted"},
		{`"dq\tx"`, "dq\tx"},
		{`r'\d+'`, `\d+`},
		{`'a' "b"`, "ab"},
		{`b'bytes'`, "bytes"},
		{`f'x'`, "f'x'"},
		{"[1, 'two', [3]]", []any{1, "two", []any{3}}},
		{"[1, 2,]", []any{1, 2}},
		{"(1, 2)", []any{1, 2}},
		{"(1)", 1},
		{"()", []any{}},
		{"1, 2", []any{1, 2}},
		{"{'a': 1, 'b': [True]}", map[string]any{"a": 1, "b": []any{true}}},
		{"{}", map[string]any{}},
		{"{1.: 2, 1e16: 3, True: 4}", map[string]any{"1.0": 2, "1e+16": 3, "True": 4}},
		{"{1, 2, 1}", []any{1, 2}},
		{"set()", []any{}},
		{"1 # comment", 1},
		{"hello world", "hello world"},
		{"a=b", "a=b"},
		{"", ""},
		{"1+2", "1+2"},
		{"1j", "1j"},
		{"-True", "-True"},
		{"--1", "--1"},
		{"[1, 2", "[1, 2"},
		{"'unterminated", "'unterminated"},
		{"99999999999999999999", "99999999999999999999"},
		{"0123", "0123"},
		{"1__0", "1__0"},
		{"1.", 1.0},
		{"1e", "1e"},
		{"'\\x41\\101\\u00e9'", "AAé"},
		{"'\\q'", `\q`},
		{"'''tri'ple'''", "tri'ple"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := iniValue(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("iniValue(%q) = %#v; want %#v", tt.in, got, tt.want)
			}
		})
	}
	// quoting on a host line is the shell's first: "1" is then 1, while
	// "'1'" is the string 1
	dir := writeTree(t, map[string]string{"hosts": `h1 a="1" b="'1'" c='x y' d=x\ y e="[1, 2]" f=True # g=no
`})
	hv := mustLoad(t, filepath.Join(dir, "hosts")).HostVars("h1")
	want := map[string]any{"a": 1, "b": "1", "c": "x y", "d": "x y", "e": []any{1, 2}, "f": true}
	for k, v := range want {
		if !reflect.DeepEqual(hv[k], v) {
			t.Errorf("%s = %#v; want %#v", k, hv[k], v)
		}
	}
	if _, ok := hv["g"]; ok {
		t.Errorf("g is set: # starts a comment on a host line")
	}
}

func TestYAMLScalars(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"yes", true}, {"No", false}, {"on", true}, {"OFF", false}, {"true", true},
		{"y", "y"}, {"0644", 420}, {"0x1f", 31}, {"0b101", 5}, {"1_000", 1000},
		{"1:30", 90}, {"1e3", "1e3"}, {"1.0e+3", 1000.0}, {"1.5", 1.5}, {".inf", posInf},
		{"~", nil}, {"null", nil}, {"", nil}, {"08", "08"}, {"-12", -12},
		{"'yes'", "yes"}, {`"0644"`, "0644"}, {"!!str 12", "12"}, {"!!int '12'", 12},
		{"!unsafe '{{ x }}'", "{{ x }}"}, {"2024-01-02", "2024-01-02"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			doc, ds := parseYAMLDoc("t.yml", []byte("v: "+tt.in+"\n"))
			if ds.Err() != nil {
				t.Fatal(ds.Err())
			}
			var errs = ds
			c := &yamlConv{ds: &errs}
			v, err := c.value("t.yml", doc)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.(map[string]any)["v"]; !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s -> %#v; want %#v", tt.in, got, tt.want)
			}
		})
	}
}

var posInf = func() float64 { f, _ := y11Float(".inf"); return f }()

// TestPrecedence checks Ansible's variable precedence: all < parent groups
// < child groups (by depth, then ansible_group_priority, then name) < host,
// and group_vars/ and host_vars/ files over the inline vars of the same kind.
func TestPrecedence(t *testing.T) {
	base := map[string]string{
		"hosts": `
[top:children]
mid
[mid:children]
leaf
[leaf]
h1 hostvar=inline
[alpha]
h1
[beta]
h1
[all:vars]
v_all=inline_all
v_top=inline_all
[top:vars]
v_top=top
v_mid=top
v_gv=inline_top
[mid:vars]
v_mid=mid
v_leaf=mid
[leaf:vars]
v_leaf=leaf
[prio_a]
h1
[prio_b]
h1
[alpha:vars]
v_tie=alpha
[beta:vars]
v_tie=beta
[prio_a:vars]
v_prio=prio_a
ansible_group_priority=5
[prio_b:vars]
v_prio=prio_b
`,
	}
	tests := []struct {
		name  string
		extra map[string]string
		want  map[string]any
	}{
		{"inline", nil, map[string]any{
			"v_all": "inline_all", "v_top": "top", "v_mid": "mid", "v_leaf": "leaf",
			"v_tie":  "beta",                        // alpha and beta have the same depth: by name, beta last...
			"v_prio": "prio_a", "hostvar": "inline", // ...unless a priority says otherwise
		}},
		{"group_vars over inline", map[string]string{
			"group_vars/all.yml":  "v_leaf: gv_all\nv_gv: gv_all\n",
			"group_vars/top.yaml": "v_gv: gv_top\n",
		}, map[string]any{
			// group_vars/all beats even the deepest group's inline vars
			"v_leaf": "gv_all", "v_gv": "gv_top",
		}},
		{"host_vars over all", map[string]string{
			"group_vars/leaf":       "hostvar: gv_leaf\nv_x: gv_leaf\n",
			"host_vars/h1/a.yml":    "v_x: hv_a\nv_y: hv_a\n",
			"host_vars/h1/b/c.json": `{"v_y": "hv_c"}`,
			"host_vars/h1/z.txt":    "v_y: ignored: not a vars file name\n",
			"host_vars/h1/.hidden":  "v_y: ignored\n",
		}, map[string]any{"hostvar": "inline", "v_x": "hv_a", "v_y": "hv_c"}},
		{"first of NAME, NAME.yml, NAME.yaml, NAME.json", map[string]string{
			"group_vars/mid.yml":  "v_mid: from_yml\n",
			"group_vars/mid.json": `{"v_mid": "from_json"}`,
		}, map[string]any{"v_mid": "from_yml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range base {
				files[k] = v
			}
			for k, v := range tt.extra {
				files[k] = v
			}
			dir := writeTree(t, files)
			hv := mustLoad(t, filepath.Join(dir, "hosts")).HostVars("h1")
			for k, v := range tt.want {
				if !reflect.DeepEqual(hv[k], v) {
					t.Errorf("%s = %#v; want %#v", k, hv[k], v)
				}
			}
		})
	}
}

func TestHostVarsMagic(t *testing.T) {
	dir := writeTree(t, map[string]string{"inv/hosts": "[web]\nweb1.lab.example:2222\n[db]\n198.18.0.5\n"})
	inv := mustLoad(t, filepath.Join(dir, "inv"))
	hv := inv.HostVars("web1.lab.example")
	want := map[string]any{
		"inventory_hostname":       "web1.lab.example",
		"inventory_hostname_short": "web1",
		"group_names":              []any{"web"},
		"ansible_port":             2222,
		"inventory_file":           filepath.Join(dir, "inv", "hosts"),
		"inventory_dir":            filepath.Join(dir, "inv"),
	}
	if !reflect.DeepEqual(hv, want) {
		t.Fatalf("HostVars = %#v\nwant %#v", hv, want)
	}
	if s := inv.HostVars("198.18.0.5")["inventory_hostname_short"]; s != "198.18.0.5" {
		t.Errorf("short name of an address = %v", s)
	}
	// the map is the caller's own
	hv["group_names"].([]any)[0] = "changed"
	if inv.HostVars("web1.lab.example")["group_names"].([]any)[0] != "web" {
		t.Error("HostVars shares state between calls")
	}
	if inv.HostVars("nosuch") != nil {
		t.Error("HostVars of an unknown host is not nil")
	}
	names := inv.VarNames()
	for _, n := range []string{"ansible_port", "inventory_hostname", "group_names"} {
		if !contains(names, n) {
			t.Errorf("VarNames() = %v lacks %s", names, n)
		}
	}
}

// TestYAMLInventory covers the YAML format's shapes: nested children, a
// string for one host, null groups, ranges, vars at each level, a group
// defined in two places.
func TestYAMLInventory(t *testing.T) {
	dir := writeTree(t, map[string]string{"hosts.yaml": `
all:
  vars: {site: lab}
  hosts:
    solo:
  children:
    k8s:
      children:
        masters:
          hosts:
            kcm-[1:2]:
              role: cp
        workers:
          hosts: wk1
      vars:
        site: k8s
    empty:
    masters:
      vars:
        site: masters
      hosts:
        kcm-3:
# a top-level group outside all: goes under all too
other:
  hosts:
    &anchor oth1: {x: 1}
  vars:
    <<: {merged: yes, site: merged}
    site: other
`})
	inv := mustLoad(t, filepath.Join(dir, "hosts.yaml"))
	groups := inv.Groups()
	wantGroups := map[string][]string{
		// all's own hosts, then its children's (ungrouped, k8s, empty,
		// masters, other), then the grandchildren's: Ansible's order
		"all":       {"solo", "kcm-1", "kcm-2", "kcm-3", "oth1", "wk1"},
		"ungrouped": {"solo"},
		"k8s":       {"kcm-1", "kcm-2", "kcm-3", "wk1"},
		"masters":   {"kcm-1", "kcm-2", "kcm-3"},
		"workers":   {"wk1"},
		"empty":     {},
		"other":     {"oth1"},
	}
	if !reflect.DeepEqual(groups, wantGroups) {
		t.Errorf("Groups() = %v\nwant %v", groups, wantGroups)
	}
	for host, want := range map[string]map[string]any{
		"kcm-1": {"site": "masters", "role": "cp"},
		"wk1":   {"site": "k8s"},
		"solo":  {"site": "lab"},
		"oth1":  {"site": "other", "merged": true, "x": 1},
	} {
		hv := inv.HostVars(host)
		for k, v := range want {
			if !reflect.DeepEqual(hv[k], v) {
				t.Errorf("%s: %s = %#v; want %#v", host, k, hv[k], v)
			}
		}
	}
	if h := inv.Host("kcm-1"); h == nil || h.Pos.Line != 11 || !reflect.DeepEqual(h.Groups, []string{"k8s", "masters"}) {
		t.Errorf("Host(kcm-1) = %+v", h)
	}
}

// TestDetectFormat: format by extension and content, as Ansible's YAML
// plugin then INI plugin would read each file.
func TestDetectFormat(t *testing.T) {
	tests := []struct {
		name, file, content string
		hosts               []string
	}{
		{"ini without extension", "hosts", "[web]\nweb1\n", []string{"web1"}},
		{"yaml without extension", "hosts", "web:\n  hosts:\n    web1:\n", []string{"web1"}},
		{"ini in a .yml file", "hosts.yml", "[web]\nweb1\n", []string{"web1"}},
		{"ini named .ini", "inv.ini", "web1 a=1\n", []string{"web1"}},
		{"json", "inv.json", `{"web": {"hosts": {"web1": {}}}}`, []string{"web1"}},
		{"empty", "hosts", "# nothing\n", []string{}},
		{"bare host list", "hosts", "web1\nweb2\n", []string{"web1", "web2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{tt.file: tt.content})
			hs, err := mustLoad(t, filepath.Join(dir, tt.file)).Hosts("all")
			if err != nil {
				t.Fatal(err)
			}
			if got := names(hs); !reflect.DeepEqual(got, tt.hosts) {
				t.Fatalf("hosts = %v; want %v", got, tt.hosts)
			}
		})
	}
}

// TestDirectorySource: a directory reads its files in name order, skipping
// hidden files, *.md, *.retry, *.orig, *.ini and the vars directories, and
// the files share one inventory (a child group may be declared in an
// earlier file).
func TestDirectorySource(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"01-hosts":            "[masters]\nkcm-1\n",
		"02-groups.yml":       "k8s:\n  children:\n    masters:\n",
		"03-more":             "[k8s:children]\nmasters\n[extra]\nx1\n",
		".hidden":             "[bad\n",
		"notes.md":            "[bad\n",
		"old.retry":           "[bad\n",
		"hosts.orig":          "[bad\n",
		"skip.ini":            "[bad\n",
		"group_vars/all.yml":  "gv: 1\n",
		"host_vars/kcm-1.yml": "hv: 2\n",
		"sub/04-nested":       "[nested]\nn1\n",
	})
	inv := mustLoad(t, dir)
	hs, _ := inv.Hosts("all")
	// k8s, extra and nested are all's children; masters, under k8s, comes after
	if got, want := names(hs), []string{"x1", "n1", "kcm-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts = %v; want %v", got, want)
	}
	if hv := inv.HostVars("kcm-1"); hv["gv"] != 1 || hv["hv"] != 2 {
		t.Errorf("vars = %v", hv)
	}
}

// TestMultipleSources: -i twice; each source's own group_vars apply, the
// later source's winning.
func TestMultipleSources(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a/hosts":          "[web]\nweb1\n",
		"a/group_vars/web": "v: a\nonly_a: 1\n",
		"b/hosts.yml":      "web:\n  hosts:\n    web2:\n",
		"b/group_vars/web": "v: b\n",
	})
	inv := mustLoad(t, filepath.Join(dir, "a/hosts"), filepath.Join(dir, "b/hosts.yml"))
	hv := inv.HostVars("web1")
	if hv["v"] != "b" || hv["only_a"] != 1 {
		t.Errorf("vars = %v", hv)
	}
	if hv["inventory_file"] != filepath.Join(dir, "a/hosts") {
		t.Errorf("inventory_file = %v", hv["inventory_file"])
	}
}

// TestPatterns: Ansible's pattern language, in Ansible's order.
func TestPatterns(t *testing.T) {
	dir := writeTree(t, map[string]string{"hosts": `
solo
[masters]
kcm-[1:3]
[workers]
wk-[1:2]
[k8s:children]
masters
workers
[lb]
lb1
kcm-1
[web.prod]
w1
`})
	inv := mustLoad(t, filepath.Join(dir, "hosts"))
	tests := []struct {
		pattern string
		want    []string
		warn    []string
		err     string
	}{
		// all's children in order (ungrouped, k8s, lb, web.prod), then
		// the grandchildren (masters, workers), as ansible --list-hosts
		{"all", []string{"solo", "lb1", "kcm-1", "w1", "kcm-2", "kcm-3", "wk-1", "wk-2"}, nil, ""},
		{"*", []string{"solo", "lb1", "kcm-1", "w1", "kcm-2", "kcm-3", "wk-1", "wk-2"}, nil, ""},
		{"!k8s", []string{"solo", "lb1", "w1"}, nil, ""},
		{"k8s", []string{"kcm-1", "kcm-2", "kcm-3", "wk-1", "wk-2"}, nil, ""},
		{"lb:masters", []string{"lb1", "kcm-1", "kcm-2", "kcm-3"}, nil, ""},
		{"lb,masters", []string{"lb1", "kcm-1", "kcm-2", "kcm-3"}, nil, ""},
		{"k8s:&lb", []string{"kcm-1"}, nil, ""},
		{"k8s:!masters", []string{"wk-1", "wk-2"}, nil, ""},
		{"!masters:k8s", []string{"wk-1", "wk-2"}, nil, ""},
		{"kcm-*", []string{"kcm-1", "kcm-2", "kcm-3"}, nil, ""},
		{"kcm-[!2]", []string{"kcm-1", "kcm-3"}, nil, ""},
		{"kcm-?", []string{"kcm-1", "kcm-2", "kcm-3"}, nil, ""},
		{"~(kcm|wk)-1", []string{"kcm-1", "wk-1"}, nil, ""},
		{"~wk", []string{"wk-1", "wk-2"}, nil, ""},
		{"kcm-2:solo:kcm-2", []string{"kcm-2", "solo"}, nil, ""},
		{"web.prod", []string{"w1"}, nil, ""},
		{"masters[0]", []string{"kcm-1"}, nil, ""},
		{"masters[-1]", []string{"kcm-3"}, nil, ""},
		{"masters[1:]", []string{"kcm-2", "kcm-3"}, nil, ""},
		{"masters[0:1]", []string{"kcm-1", "kcm-2"}, nil, ""},
		{"masters[5]", nil, nil, "no hosts matched the subscripted pattern"},
		{"nosuch", []string{}, []string{"could not match supplied host pattern, ignoring: nosuch"}, ""},
		{"nosuch:lb", []string{"lb1", "kcm-1"}, []string{"could not match supplied host pattern, ignoring: nosuch"}, ""},
		{"ungrouped", []string{"solo"}, nil, ""},
		{"~(", nil, nil, "invalid host list pattern"},
		{"localhost", []string{"localhost"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			hs, warn, err := inv.Match(tt.pattern)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v; want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(hs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("hosts = %v; want %v", got, tt.want)
			}
			if !reflect.DeepEqual(warn, tt.warn) {
				t.Errorf("warnings = %q; want %q", warn, tt.warn)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"hosts":       "[masters]\nkcm-[1:3]\n[workers]\nwk-[1:3]\n",
		"retry.limit": "wk-2\nkcm-3\n\n",
	})
	inv := mustLoad(t, filepath.Join(dir, "hosts"))
	all, _ := inv.Hosts("all")
	tests := []struct {
		limit string
		want  []string
	}{
		{"masters", []string{"kcm-1", "kcm-2", "kcm-3"}},
		{"all:!kcm-2", []string{"kcm-1", "kcm-3", "wk-1", "wk-2", "wk-3"}},
		{"wk-3,kcm-1", []string{"kcm-1", "wk-3"}}, // the play's order, not the limit's
		{"@" + filepath.Join(dir, "retry.limit"), []string{"kcm-3", "wk-2"}},
		{"nosuch", nil},
	}
	for _, tt := range tests {
		t.Run(tt.limit, func(t *testing.T) {
			got, err := inv.Limit(all, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if g := names(got); !reflect.DeepEqual(g, append([]string{}, tt.want...)) && !(len(g) == 0 && len(tt.want) == 0) {
				t.Errorf("Limit = %v; want %v", g, tt.want)
			}
		})
	}
	if _, err := inv.Limit(all, "@/nonexistent/limit"); err == nil {
		t.Error("Limit with a missing @file: no error")
	}
}

func TestImplicitLocalhost(t *testing.T) {
	dir := writeTree(t, map[string]string{"hosts": "[web]\nweb1\n[all:vars]\nsite=lab\n"})
	inv := mustLoad(t, filepath.Join(dir, "hosts"))
	h := inv.Host("localhost")
	if h == nil || !h.Implicit {
		t.Fatalf("Host(localhost) = %+v", h)
	}
	hv := inv.HostVars("localhost")
	if hv["ansible_connection"] != "local" || hv["site"] != "lab" || hv["inventory_hostname"] != "localhost" {
		t.Errorf("localhost vars = %v", hv)
	}
	all, _ := inv.Hosts("all")
	if got := names(all); !reflect.DeepEqual(got, []string{"web1"}) {
		t.Errorf("all = %v: the implicit localhost is not in all", got)
	}
	// a listed localhost is used as it is
	dir = writeTree(t, map[string]string{"hosts": "localhost ansible_connection=local x=1\n"})
	inv = mustLoad(t, filepath.Join(dir, "hosts"))
	if h := inv.Host("localhost"); h == nil || h.Implicit || inv.HostVars("localhost")["x"] != 1 {
		t.Errorf("listed localhost = %+v", h)
	}
}

// TestHostList: -i "b,a:2222," as Ansible's host_list plugin reads it.
func TestHostList(t *testing.T) {
	inv := mustLoad(t, "b, a:2222,,b,web[1:2],")
	hs, _ := inv.Hosts("all")
	if got, want := names(hs), []string{"b", "a", "web[1:2]"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hosts = %v; want %v", got, want)
	}
	if p := inv.HostVars("a")["ansible_port"]; p != 2222 {
		t.Errorf("ansible_port = %v", p)
	}
	if g := inv.Groups()["ungrouped"]; len(g) != 3 {
		t.Errorf("ungrouped = %v", g)
	}
}

// TestMissingSource: a path that does not exist is one diagnostic.
func TestMissingSource(t *testing.T) {
	_, ds := Load([]string{"testdata/nonexistent"})
	if len(ds) != 1 || !strings.Contains(ds[0].Msg, "no such file") {
		t.Fatalf("diagnostics = %v", ds)
	}
}

func TestVarsFileErrors(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"hosts":                "[web]\nweb1\n",
		"group_vars/web.yml":   "- not\n- a mapping\n",
		"host_vars/web1.yml":   "a: [unclosed\n",
		"group_vars/all/x.yml": "k: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n",
	})
	_, ds := Load([]string{filepath.Join(dir, "hosts")})
	msgs := ds.Error()
	for _, want := range []string{
		"group_vars/web.yml:1:1: a vars file must be a mapping of variable names, got a list",
		"host_vars/web1.yml:1:1: malformed YAML: did not find expected ',' or ']'",
		"group_vars/all/x.yml:1:4: encrypted values (!vault) are not supported",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, msgs)
		}
	}
}

// TestNames: the name-based view the engine's Inventory interface wants.
func TestNames(t *testing.T) {
	inv := mustLoad(t, "testdata/compare/hosts")
	n := Names{inv}
	got, err := n.Hosts("masters:lb")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kcm-1", "kcm-2", "kcm-3", "lb-1", "lb-5", "lb-9"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names.Hosts = %v; want %v", got, want)
	}
	if _, err := n.Hosts("~("); err == nil {
		t.Error("bad regex: no error")
	}
	if n.HostVars("kcm-2")["level"] != "hv_kcm2" {
		t.Errorf("Names.HostVars(kcm-2) = %v", n.HostVars("kcm-2"))
	}
}

// TestConcurrentQueries: an Inventory answers from many goroutines (run
// with -race), the implicit localhost included.
func TestConcurrentQueries(t *testing.T) {
	inv := mustLoad(t, "testdata/compare/hosts")
	done := make(chan []string)
	for i := 0; i < 8; i++ {
		go func() {
			var seen []string
			for _, p := range []string{"localhost", "k8s:!masters", "all"} {
				hs, _ := inv.Hosts(p)
				for _, h := range hs {
					_ = inv.HostVars(h.Name)
					seen = append(seen, h.Name)
				}
			}
			_ = inv.Groups()
			done <- seen
		}()
	}
	first := <-done
	for i := 1; i < 8; i++ {
		if got := <-done; !reflect.DeepEqual(got, first) {
			t.Fatalf("goroutines disagree:\n%v\n%v", got, first)
		}
	}
	if first[0] != "localhost" {
		t.Errorf("first answer %v does not start with the implicit localhost", first)
	}
}
