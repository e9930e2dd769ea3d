package dsl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckNames(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // relative to the playbook's directory
		known []string          // names defined outside the playbook (inventory, -e)
		want  []string          // diagnostics, without the directory
	}{
		{
			name: "template file reads an undefined variable",
			files: map[string]string{
				"pb.yml":           "- hosts: all\n  vars:\n    port: 1\n  tasks:\n    - template: src=kcm.j2 dest=/x\n",
				"templates/kcm.j2": "port={{ port }}\nhost={{ hostt }}\n{% for x in [1] %}{{ x }}{% endfor %}\n",
			},
			want: []string{`templates/kcm.j2:2:9: undefined variable "hostt"`},
		},
		{
			name: "template file beside the playbook, task vars seen",
			files: map[string]string{
				"pb.yml": "- hosts: all\n  tasks:\n    - template: src=kcm.j2 dest=/x\n      vars:\n        port: 2\n",
				"kcm.j2": "{{ port }}",
			},
		},
		{
			name: "template file that does not parse",
			files: map[string]string{
				"pb.yml":           "- hosts: all\n  tasks:\n    - template: src=kcm.j2 dest=/x\n",
				"templates/kcm.j2": "a\n{% if x %}\n",
			},
			// LoadTemplateFile reports it; the engine's check of src calls it.
		},
		{
			name: "vars_files names are defined",
			files: map[string]string{
				"pb.yml":        "- hosts: all\n  vars_files: [vars/main.yml]\n  tasks:\n    - debug: msg={{ from_file }}\n",
				"vars/main.yml": "from_file: 1\n",
			},
		},
		{
			name: "missing vars file",
			files: map[string]string{
				"pb.yml": "- hosts: all\n  vars_files: [nope.yml]\n  tasks:\n    - debug: msg={{ from_file }}\n",
			},
			want: []string{"pb.yml:2:16: vars_files: cannot read "},
		},
		{
			name: "templated vars_files path skips the play",
			files: map[string]string{
				"pb.yml": "- hosts: all\n  vars_files: ['{{ env }}.yml']\n  tasks:\n    - debug: msg={{ anything }}\n",
			},
			want: []string{`pb.yml:2:20: undefined variable "env"`},
		},
		{
			name: "register and set_fact from an earlier play",
			files: map[string]string{
				"pb.yml": "- hosts: a\n  tasks:\n    - shell: echo\n      register: r\n    - set_fact: {f: 1}\n- hosts: b\n  tasks:\n    - debug: msg='{{ r.rc }} {{ f }}'\n",
			},
		},
		{
			name: "block when guards its children",
			files: map[string]string{
				"pb.yml": "- hosts: a\n  tasks:\n    - when: opt is defined\n      block:\n        - debug: msg={{ opt }}\n    - debug: msg={{ opt }}\n",
			},
			want: []string{`pb.yml:6:21: undefined variable "opt"`},
		},
		{
			name: "typo of an inventory variable is suggested",
			files: map[string]string{
				"pb.yml": "- hosts: a\n  tasks:\n    - debug: msg={{ kcm_secure_prot }}\n",
			},
			known: []string{"kcm_secure_port", "cluster_name"},
			want:  []string{`pb.yml:3:21: undefined variable "kcm_secure_prot" (did you mean "kcm_secure_port"?)`},
		},
		{
			name: "play vars suggested before inventory names",
			files: map[string]string{
				"pb.yml": "- hosts: a\n  vars: {port: 1}\n  tasks:\n    - debug: msg={{ prot }}\n",
			},
			known: []string{"ports"},
			want:  []string{`pb.yml:4:21: undefined variable "prot" (did you mean "port"?)`},
		},
		{
			name: "magic variables and facts",
			files: map[string]string{
				"pb.yml": "- hosts: a\n  tasks:\n    - debug: msg='{{ inventory_hostname }} {{ groups.all }} {{ hostvars }} {{ ansible_default_ipv4 }} {{ playbook_dir }} {{ ansible_check_mode }}'\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			pb, ds := LoadPlaybook(filepath.Join(dir, "pb.yml"), testSchemas())
			if len(ds) > 0 {
				t.Fatalf("parse: %s", ds.Error())
			}
			got := pb.CheckNamesSuggest(func(n string) bool {
				for _, k := range tt.known {
					if k == n {
						return true
					}
				}
				return false
			}, tt.known)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(tt.want), got.Error())
			}
			for i, d := range got {
				s := strings.TrimPrefix(d.String(), dir+"/")
				if !strings.HasPrefix(s, tt.want[i]) {
					t.Errorf("diagnostic %q, want %q", s, tt.want[i])
				}
			}
		})
	}
}
