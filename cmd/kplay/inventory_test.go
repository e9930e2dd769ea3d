package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The inventory features the command line adds on top of the engine:
// group_vars/ beside the playbook, --limit @file, and the warning for a
// host pattern part that matches nothing.
func TestInventoryBesideThePlaybook(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inv := write("inv/hosts", "[kcm]\nkcm-[1:3] ansible_connection=local\n")
	write("inv/group_vars/kcm.yml", "colour: red\nshape: round\n")
	pb := write("play/site.yaml", `- hosts: kcm:nosuch
  gather_facts: false
  tasks:
    - debug:
        msg: "{{ inventory_hostname }} {{ colour }} {{ shape }}"
`)
	// Beside the playbook, ranked above the inventory's own group_vars.
	write("play/group_vars/kcm.yml", "colour: blue\n")
	retry := write("retry", "kcm-2\nkcm-3\n")

	code, stdout, stderr := kplay(t, pb, "-i", inv, "--limit", "@"+retry)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"kcm-2 blue round", "kcm-3 blue round"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "kcm-1") {
		t.Errorf("--limit @file let kcm-1 through:\n%s", stdout)
	}
	if !strings.Contains(stderr, "[WARNING]: could not match supplied host pattern, ignoring: nosuch") {
		t.Errorf("no warning for the pattern part matching nothing; stderr:\n%s", stderr)
	}
}
