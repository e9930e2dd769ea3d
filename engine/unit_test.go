package engine

import (
	"fmt"
	"reflect"
	"testing"

	"kplay/dsl"
)

func TestTagsSelect(t *testing.T) {
	tests := []struct {
		tags, only, skip []string
		want             bool
	}{
		{nil, nil, nil, true},
		{[]string{"a"}, nil, nil, true},
		{[]string{"never"}, nil, nil, false},
		{[]string{"never", "debug"}, []string{"debug"}, nil, true},
		{[]string{"a"}, []string{"b"}, nil, false},
		{[]string{"always"}, []string{"b"}, nil, true},
		{[]string{"always"}, []string{"b"}, []string{"always"}, false},
		{[]string{"always"}, nil, []string{"all"}, true},
		{[]string{"a"}, nil, []string{"all"}, false},
		{nil, []string{"untagged"}, nil, true},
		{[]string{"a"}, []string{"untagged"}, nil, false},
		{[]string{"a"}, []string{"tagged"}, nil, true},
		{nil, []string{"tagged"}, nil, false},
		{[]string{"a"}, nil, []string{"tagged"}, false},
		{[]string{"a", "b"}, []string{"b"}, []string{"a"}, false},
		{[]string{"a"}, []string{"a"}, []string{"b"}, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/only=%v/skip=%v", tc.tags, tc.only, tc.skip), func(t *testing.T) {
			r := newRunner(Options{Inventory: emptyInventory{}, Tags: tc.only, SkipTags: tc.skip})
			if got := r.tagsSelect(tc.tags); got != tc.want {
				t.Fatalf("tagsSelect = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSerialBatches(t *testing.T) {
	hosts := []string{"a", "b", "c", "d", "e"}
	tests := []struct {
		name   string
		serial []dsl.Serial
		want   [][]string
	}{
		{"none", nil, [][]string{hosts}},
		{"two", []dsl.Serial{{Count: 2}}, [][]string{{"a", "b"}, {"c", "d"}, {"e"}}},
		{"list", []dsl.Serial{{Count: 1}, {Count: 3}}, [][]string{{"a"}, {"b", "c", "d"}, {"e"}}},
		{"percent", []dsl.Serial{{Percent: 40}}, [][]string{{"a", "b"}, {"c", "d"}, {"e"}}},
		{"tiny percent", []dsl.Serial{{Percent: 1}}, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}},
		{"mixed", []dsl.Serial{{Count: 1}, {Percent: 100}}, [][]string{{"a"}, {"b", "c", "d", "e"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := serialBatches(hosts, tc.serial); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseFacts(t *testing.T) {
	out := "kcm-1.lab\n--kplay--\nLinux\n6.1.0\nx86_64\n--kplay--\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n--kplay--\n" +
		"1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet 198.18.0.11/24 brd 198.18.0.255 scope global eth0\n2: eth0    inet6 fe80::1/64 scope link\n3: eth1    inet6 fd00::5/64 scope global\n--kplay--\nkcm-1.lab\n"
	f := parseFacts(out)
	want := map[string]any{
		"ansible_hostname":             "kcm-1",
		"ansible_fqdn":                 "kcm-1.lab",
		"ansible_system":               "Linux",
		"ansible_kernel":               "6.1.0",
		"ansible_architecture":         "x86_64",
		"ansible_distribution":         "Debian",
		"ansible_os_family":            "Debian",
		"ansible_distribution_version": "12",
		"ansible_distribution_release": "bookworm",
		"ansible_all_ipv4_addresses":   []any{"198.18.0.11"},
		"ansible_all_ipv6_addresses":   []any{"fd00::5"},
	}
	for k, v := range want {
		t.Run(k, func(t *testing.T) {
			if !reflect.DeepEqual(f[k], v) {
				t.Fatalf("%s = %#v, want %#v", k, f[k], v)
			}
		})
	}
	if facts, _ := f["ansible_facts"].(map[string]any); facts["hostname"] != "kcm-1" {
		t.Fatalf("ansible_facts.hostname = %v", facts["hostname"])
	}
}

func TestHostSpec(t *testing.T) {
	tests := []struct {
		name, host string
		vars       map[string]any
		want       string
		err        bool
	}{
		{"defaults", "web1", nil, "web1 ssh web1:0 user= key=", false},
		{"localhost", "localhost", nil, "localhost local localhost:0 user= key=", false},
		{"inventory", "web1", map[string]any{"ansible_host": "10.0.0.1", "ansible_port": 2222, "ansible_user": "ops", "ansible_ssh_private_key_file": "/k"}, "web1 ssh 10.0.0.1:2222 user=ops key=/k", false},
		{"old names", "web1", map[string]any{"ansible_ssh_host": "10.0.0.2", "ansible_ssh_port": "2200", "ansible_ssh_user": "old"}, "web1 ssh 10.0.0.2:2200 user=old key=", false},
		{"local", "web1", map[string]any{"ansible_connection": "local"}, "web1 local web1:0 user= key=", false},
		{"localhost over ssh", "localhost", map[string]any{"ansible_connection": "ssh"}, "localhost ssh localhost:0 user= key=", false},
		{"bad port", "web1", map[string]any{"ansible_port": "x"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := hostSpec(tc.host, func(k string) (any, bool) { v, ok := tc.vars[k]; return v, ok })
			if tc.err {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("%s %s %s:%d user=%s key=%s", s.Name, s.Connection, s.Address, s.Port, s.User, s.KeyFile)
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzParseFacts: whatever a host prints, fact parsing must not panic and
// must always give the documented keys.
func FuzzParseFacts(f *testing.F) {
	f.Add("h\n--kplay--\nLinux\n6.1\nx86_64\n--kplay--\nID=debian\n--kplay--\n2: eth0 inet 10.0.0.1/8\n--kplay--\nh.lab\n")
	f.Add("")
	f.Add("--kplay--\n--kplay--\nID=\n--kplay--\n1: x inet6 ::1/128")
	f.Fuzz(func(t *testing.T, out string) {
		facts := parseFacts(out)
		for _, k := range FactNames {
			if _, ok := facts[k]; !ok {
				t.Fatalf("fact %s missing", k)
			}
		}
	})
}

// TestExprCache: an expression or template a module evaluates on many
// hosts is compiled once.
func TestExprCache(t *testing.T) {
	c := newExprCache()
	pos := dsl.Pos{File: "pb.yml", Line: 3, Col: 5}
	e1, err := c.expr("x + 1", pos)
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := c.expr("x + 1", pos)
	if e1 != e2 {
		t.Error("the same expression was compiled twice")
	}
	if e3, _ := c.expr("x + 2", pos); e3 == e1 {
		t.Error("different expressions share a compiled form")
	}
	t1, err := c.tmpl("a.j2", "{{ x }}")
	if err != nil {
		t.Fatal(err)
	}
	if t2, _ := c.tmpl("a.j2", "{{ x }}"); t1 != t2 {
		t.Error("the same template was parsed twice")
	}
	if _, err := c.expr("x +", pos); err == nil {
		t.Error("a bad expression compiled")
	}
	if _, err2 := c.expr("x +", pos); err2 == nil {
		t.Error("a cached bad expression lost its error")
	}
}
