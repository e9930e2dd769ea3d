package inventory

import (
	"os"
	"path/filepath"
	"testing"
)

// TestVarPos: each host variable's position is where the value HostVars
// gives was set, following the same precedence (group inline vars, then
// group_vars/, then the host's own vars, then host_vars/).
func TestVarPos(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("hosts.ini", "[web]\nw1 ansible_port=2222 a=1\nw2:2200\n\n[web:vars]\nb=2\nansible_user=web\n")
	write("group_vars/web.yml", "c: 3\n# a comment\nansible_user: gv\n")
	write("host_vars/w2.yml", "\nd: 4\n")
	write("more.yml", "all:\n  hosts:\n    y1:\n      ansible_host: 10.0.0.1\n  children:\n    k8s:\n      hosts: {y1: }\n      vars:\n        e: 5\n")
	inv, ds := Load([]string{filepath.Join(dir, "hosts.ini"), filepath.Join(dir, "more.yml")})
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	ini, yml := filepath.Join(dir, "hosts.ini"), filepath.Join(dir, "more.yml")
	tests := []struct {
		host, name string
		file       string
		line, col  int
	}{
		{"w1", "ansible_port", ini, 2, 4},
		{"w1", "a", ini, 2, 22},
		{"w1", "b", ini, 6, 1},
		{"w1", "c", filepath.Join(dir, "group_vars/web.yml"), 1, 1},
		{"w1", "ansible_user", filepath.Join(dir, "group_vars/web.yml"), 3, 1}, // group_vars/ over [web:vars]
		{"w2", "ansible_port", ini, 3, 1},                                      // w2:2200
		{"w2", "d", filepath.Join(dir, "host_vars/w2.yml"), 2, 1},
		{"y1", "ansible_host", yml, 4, 7},
		{"y1", "e", yml, 9, 9},
		{"w1", "nope", "", 0, 0},
		{"nohost", "a", "", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.host+"/"+tc.name, func(t *testing.T) {
			pos, ok := inv.VarPos(tc.host, tc.name)
			if ok != (tc.file != "") {
				t.Fatalf("VarPos ok=%v, want %v (%v)", ok, tc.file != "", pos)
			}
			if !ok {
				return
			}
			abs, _ := filepath.Abs(pos.File)
			if abs != tc.file || pos.Line != tc.line || pos.Col != tc.col {
				t.Errorf("VarPos = %v, want %s:%d:%d", pos, tc.file, tc.line, tc.col)
			}
		})
	}
}
