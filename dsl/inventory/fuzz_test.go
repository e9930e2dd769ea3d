package inventory

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"unicode/utf8"
)

// addSeeds adds every testdata file matching the globs to the corpus (the
// checked-in testdata/fuzz/NAME/ corpus is added by go test itself).
func addSeeds(f *testing.F, globs ...string) {
	for _, g := range globs {
		files, _ := filepath.Glob(g)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
}

// checkInventory holds for any input: diagnostics have positions; a clean
// inventory answers queries consistently.
func checkInventory(t *testing.T, inv *Inventory, ds []diagLike) {
	for _, d := range ds {
		if d.line() < 1 || d.col() < 1 {
			t.Fatalf("diagnostic without a position: %v", d)
		}
	}
	if len(ds) > 0 {
		return
	}
	if _, err := inv.Hosts("all"); err != nil {
		t.Fatalf("Hosts(all): %v", err)
	}
	// not Hosts("all"): a host named "all" answers that pattern, as in Ansible
	all := inv.groupByID["all"].allHosts
	seen := map[string]bool{}
	for _, h := range all {
		if seen[h.Name] {
			t.Fatalf("host %q twice in all", h.Name)
		}
		seen[h.Name] = true
		if !sort.StringsAreSorted(h.Groups) {
			t.Fatalf("groups of %s not sorted: %v", h.Name, h.Groups)
		}
		hv := inv.HostVars(h.Name)
		if hv == nil || hv["inventory_hostname"] != h.Name {
			t.Fatalf("HostVars(%q) = %v", h.Name, hv)
		}
		// every variable the file sets has the place it was set
		for k := range inv.merged[h.Name] {
			if k == "inventory_file" || k == "inventory_dir" {
				continue
			}
			if pos, ok := inv.VarPos(h.Name, k); !ok || pos.Line < 1 || pos.Col < 1 {
				t.Fatalf("VarPos(%q, %q) = %v, %v", h.Name, k, pos, ok)
			}
		}
	}
	if len(all) != len(inv.hosts) {
		t.Fatalf("all has %d hosts, inventory %d", len(all), len(inv.hosts))
	}
	groups := inv.Groups()
	if _, ok := groups["ungrouped"]; !ok {
		t.Fatal("no ungrouped group")
	}
	if len(groups["all"]) != len(all) {
		t.Fatalf("groups.all has %d hosts, group all %d", len(groups["all"]), len(all))
	}
}

type diagLike interface {
	line() int
	col() int
}

type dpos struct{ l, c int }

func (d dpos) line() int { return d.l }
func (d dpos) col() int  { return d.c }

// smallLimits keeps each fuzz input fast: a host range may otherwise
// legitimately expand to 100000 hosts.
func smallLimits() {
	maxRangeHosts, maxHosts = 200, 2000
}

func fuzzLoad(t *testing.T, name string, data []byte) {
	inv, ds := loadBytes(name, data)
	var dl []diagLike
	for _, d := range ds {
		dl = append(dl, dpos{d.Pos.Line, d.Pos.Col})
	}
	checkInventory(t, inv, dl)
}

func FuzzINI(f *testing.F) {
	addSeeds(f, "testdata/bad/*.ini", "testdata/compare/hosts")
	f.Add([]byte("[web]\nweb[01:03]:22 a='x y' b=[1,2]\n[web:vars]\nk={'a': (1, 2)}\n[all:children]\nweb\n"))
	f.Add([]byte("[web]\nw1 ansible_port=abc ansible_connection=foo\nw1 ansible_port=22\n[web:vars]\nansible_port=70000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		smallLimits()
		fuzzLoad(t, "hosts.ini", data)
	})
}

func FuzzYAML(f *testing.F) {
	addSeeds(f, "testdata/bad/*.yml", "testdata/compare-yaml/hosts.yml")
	f.Add([]byte("all:\n  children:\n    a: &x\n      hosts: {h[1:2]: {v: *x}}\n    b:\n      <<: *x\n"))
	f.Add([]byte("all:\n  hosts:\n    h1: &v {ansible_port: [22], <<: {ansible_user: u}}\n    h2: *v\n  vars: {ansible_connection: foo}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		smallLimits()
		fuzzLoad(t, "hosts.yml", data)
		fuzzLoad(t, "hosts", data) // format detection
	})
}

// FuzzPattern runs arbitrary host patterns and --limit values against the
// comparison inventory: no panic, each host once, only inventory hosts.
func FuzzPattern(f *testing.F) {
	for _, c := range comparePatterns {
		f.Add(c.pattern)
	}
	for _, p := range []string{"~(", "a[1:", "[", "!", "&", ",,", "web[-9]", "*[0:0]", "@nofile", "~.*[", "x[!]"} {
		f.Add(p)
	}
	inv, ds := Load([]string{"testdata/compare/hosts"})
	if ds.Err() != nil {
		f.Fatal(ds.Err())
	}
	all, _ := inv.Hosts("all")
	f.Fuzz(func(t *testing.T, pattern string) {
		if !utf8.ValidString(pattern) {
			return
		}
		// each input on its own: the first localhost-like name asked for
		// would otherwise stay the implicit localhost for every later input
		inv.localhost = nil
		hs, _, err := inv.Match(pattern)
		if err != nil {
			return
		}
		seen := map[*Host]bool{}
		for _, h := range hs {
			if seen[h] {
				t.Fatalf("%q: host %s twice", pattern, h.Name)
			}
			seen[h] = true
			if inv.Host(h.Name) != h {
				t.Fatalf("%q: host %s is not the inventory's", pattern, h.Name)
			}
		}
		for _, p := range SplitPattern(pattern) {
			if p[0] == '@' {
				return // Limit would read the file it names (/dev/zero never ends)
			}
		}
		if lim, err := inv.Limit(all, pattern); err == nil && len(lim) > len(all) {
			t.Fatalf("Limit(%q) grew the host list", pattern)
		}
	})
}

// FuzzINIValue: the Python literal reader never panics and keeps what it
// cannot read.
func FuzzINIValue(f *testing.F) {
	for _, s := range []string{"1", "'a'", "[1, (2,), {'k': {3}}]", `b"\x00"`, "0x_1", "1e-3", "'''a'''", `r'\'`, "{1: 2, 3}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, ok := pyLiteral(s); !ok && iniValue(s) != s {
			t.Fatalf("iniValue(%q) changed a non-literal: %#v", s, v)
		}
	})
}
