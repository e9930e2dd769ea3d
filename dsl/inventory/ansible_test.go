package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The comparison tests run ansible-core itself on the same inventory and
// compare answers. ansible-core is part of `make deps`; when it is missing
// the tests fail saying so.

// ansibleEnv runs Ansible with everything it might write (its home, temp
// and cache directories, retry files) inside a temporary directory, and
// with no user or system ansible.cfg.
func ansibleEnv(t *testing.T) (dir string, env []string) {
	t.Helper()
	for _, tool := range []string{"ansible", "ansible-inventory", "ansible-playbook"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (Debian package ansible-core; `make deps` installs it): %v", tool, err)
		}
	}
	dir = t.TempDir()
	cfg := filepath.Join(dir, "ansible.cfg")
	if err := os.WriteFile(cfg, []byte("[defaults]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"LANG=C.UTF-8",
		"ANSIBLE_CONFIG=" + cfg,
		"ANSIBLE_HOME=" + filepath.Join(dir, ".ansible"),
		"ANSIBLE_LOCAL_TEMP=" + filepath.Join(dir, "tmp"),
		"ANSIBLE_REMOTE_TEMP=" + filepath.Join(dir, "remote-tmp"),
		"ANSIBLE_GALAXY_CACHE_DIR=" + filepath.Join(dir, "galaxy"),
		"ANSIBLE_PERSISTENT_CONTROL_PATH_DIR=" + filepath.Join(dir, "pc"),
		"ANSIBLE_SSH_CONTROL_PATH_DIR=" + filepath.Join(dir, "cp"),
		"ANSIBLE_RETRY_FILES_ENABLED=0",
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_DEPRECATION_WARNINGS=0",
		"ANSIBLE_INVENTORY_UNPARSED_FAILED=1",
		"ANSIBLE_LOCALHOST_WARNING=0",
	}
	return dir, env
}

func runAnsible(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// listHosts parses `ansible PATTERN --list-hosts` output.
func listHosts(out string) []string {
	hosts := []string{}
	inList := false
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "hosts (") {
			inList = true
			continue
		}
		if inList && t != "" {
			hosts = append(hosts, t)
		}
	}
	return hosts
}

func names(hs []*Host) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

// comparePatterns is the set of patterns the comparison runs through both.
var comparePatterns = []struct{ pattern, limit string }{
	{"all", ""},
	{"*", ""},
	{"k8s", ""},
	{"masters:workers", ""},
	{"lb,etcd", ""},
	{"k8s:&lb", ""},
	{"k8s:!masters", ""},
	{"all:!k8s:!lb", ""},
	{"worker*", ""},
	{"~kcm-[13]", ""},
	{"kcm-2:stor-y:bastion", ""},
	{"ungrouped", ""},
	{"k8s[0]", ""},
	{"k8s[-1]", ""},
	{"k8s[2:4]", ""},
	{"lb:k8s[5:]", ""},
	{"*-[ab]", ""},
	{"&lb", ""},
	{"nosuchgroup:lb", ""},
	{"all", "masters"},
	{"k8s", "kcm-*:!kcm-3"},
	{"lb", "k8s"},
}

func TestCompareListHostsWithAnsible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ansible once per pattern; slow")
	}
	dir, env := ansibleEnv(t)
	src, err := filepath.Abs("testdata/compare/hosts")
	if err != nil {
		t.Fatal(err)
	}
	inv, ds := Load([]string{src})
	if ds.Err() != nil {
		t.Fatalf("Load: %v", ds.Err())
	}
	for _, c := range comparePatterns {
		t.Run(c.pattern+"|"+c.limit, func(t *testing.T) {
			args := []string{"ansible", "-i", src, c.pattern, "--list-hosts"}
			if c.limit != "" {
				args = append(args, "--limit", c.limit)
			}
			want := listHosts(runAnsible(t, dir, env, args...))
			hs, err := inv.Hosts(c.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if c.limit != "" {
				if hs, err = inv.Limit(hs, c.limit); err != nil {
					t.Fatal(err)
				}
			}
			if got := names(hs); !reflect.DeepEqual(got, want) {
				t.Errorf("pattern %q limit %q:\n kplay:   %v\n ansible: %v", c.pattern, c.limit, got, want)
			}
		})
	}
}

// ansible-playbook --list-hosts answers for every play at once (as a set:
// it prints the hosts from a Python set), so one run checks the patterns as
// plays, the issue's own comparison.
func TestComparePlaybookListHostsWithAnsible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ansible-playbook")
	}
	dir, env := ansibleEnv(t)
	src, _ := filepath.Abs("testdata/compare/hosts")
	inv, ds := Load([]string{src})
	if ds.Err() != nil {
		t.Fatalf("Load: %v", ds.Err())
	}
	var pb strings.Builder
	for i, c := range comparePatterns {
		if c.limit != "" {
			continue
		}
		fmt.Fprintf(&pb, "- name: p%d\n  hosts: %q\n  gather_facts: false\n  tasks: []\n", i, c.pattern)
	}
	play := filepath.Join(dir, "play.yml")
	if err := os.WriteFile(play, []byte(pb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []string{"", "k8s:!workers"} {
		args := []string{"ansible-playbook", "-i", src, play, "--list-hosts"}
		if limit != "" {
			args = append(args, "--limit", limit)
		}
		out := runAnsible(t, dir, env, args...)
		got := parsePlaybookListHosts(out)
		for i, c := range comparePatterns {
			if c.limit != "" {
				continue
			}
			want, ok := got[fmt.Sprintf("p%d", i)]
			if !ok {
				t.Errorf("play p%d (%q) missing from ansible-playbook output:\n%s", i, c.pattern, out)
				continue
			}
			hs, err := inv.Hosts(c.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if limit != "" {
				if hs, err = inv.Limit(hs, limit); err != nil {
					t.Fatal(err)
				}
			}
			if g := sortedCopy(names(hs)); !reflect.DeepEqual(g, sortedCopy(want)) {
				t.Errorf("play hosts %q limit %q:\n kplay:   %v\n ansible: %v", c.pattern, limit, g, sortedCopy(want))
			}
		}
	}
}

func sortedCopy(s []string) []string {
	c := append([]string{}, s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// parsePlaybookListHosts reads "play #N (pattern): NAME ..." blocks.
func parsePlaybookListHosts(out string) map[string][]string {
	res := map[string][]string{}
	cur := ""
	inHosts := false
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "play #"):
			_, rest, _ := strings.Cut(t, "): ")
			cur, _, _ = strings.Cut(rest, "\t")
			cur = strings.TrimSpace(cur)
			res[cur] = []string{}
			inHosts = false
		case strings.HasPrefix(t, "hosts ("):
			inHosts = true
		case strings.HasPrefix(t, "pattern:"), t == "":
			if t == "" {
				inHosts = false
			}
		case inHosts && cur != "":
			res[cur] = append(res[cur], t)
		}
	}
	return res
}

// jsonNorm round-trips v through JSON so Go and Ansible values compare.
func jsonNorm(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompareVarsWithAnsible checks every host's merged variables (INI
// typing, group depth order, group_vars/ and host_vars/ precedence) and the
// groups magic variable against Ansible, for an INI and a YAML inventory.
func TestCompareVarsWithAnsible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ansible-inventory")
	}
	dir, env := ansibleEnv(t)
	for _, src := range []string{"testdata/compare/hosts", "testdata/compare-yaml/hosts.yml", "testdata/compare-yaml"} {
		t.Run(src, func(t *testing.T) {
			abs, _ := filepath.Abs(src)
			inv, ds := Load([]string{abs})
			if ds.Err() != nil {
				t.Fatalf("Load: %v", ds.Err())
			}
			var listing struct {
				Meta struct {
					HostVars map[string]map[string]any `json:"hostvars"`
				} `json:"_meta"`
			}
			out := runAnsible(t, dir, env, "ansible-inventory", "-i", abs, "--list")
			if err := json.Unmarshal([]byte(out), &listing); err != nil {
				t.Fatalf("ansible-inventory output: %v\n%s", err, out)
			}
			all, _ := inv.Hosts("all")
			if len(all) != len(listing.Meta.HostVars) {
				t.Errorf("kplay has %d hosts, ansible %d", len(all), len(listing.Meta.HostVars))
			}
			for _, h := range all {
				got := inv.HostVars(h.Name)
				for _, k := range []string{"inventory_hostname", "inventory_hostname_short", "group_names", "inventory_file", "inventory_dir"} {
					delete(got, k)
				}
				want := listing.Meta.HostVars[h.Name]
				if want == nil {
					want = map[string]any{}
				}
				if g, w := jsonNorm(t, got), jsonNorm(t, want); !reflect.DeepEqual(g, w) {
					t.Errorf("host %s vars:\n kplay:   %v\n ansible: %v", h.Name, g, w)
				}
			}
			// the groups magic variable, from a debug task on implicit localhost
			aenv := append(env, "ANSIBLE_STDOUT_CALLBACK=json", "ANSIBLE_LOAD_CALLBACK_PLUGINS=1")
			out = runAnsible(t, dir, aenv, "ansible", "-i", abs, "localhost", "-m", "debug", "-a", "var=groups")
			var res struct {
				Plays []struct {
					Tasks []struct {
						Hosts map[string]struct {
							Groups map[string][]string `json:"groups"`
						} `json:"hosts"`
					} `json:"tasks"`
				} `json:"plays"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Plays) == 0 || len(res.Plays[0].Tasks) == 0 {
				t.Fatalf("ansible debug output: %v\n%s", err, out)
			}
			want := res.Plays[0].Tasks[0].Hosts["localhost"].Groups
			if got := inv.Groups(); !reflect.DeepEqual(got, want) {
				t.Errorf("groups:\n kplay:   %v\n ansible: %v", got, want)
			}
		})
	}
}

// ansiblePython is the Python interpreter ansible-core runs with (from the
// ansible script's #! line), to import its inventory code.
func ansiblePython(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("ansible")
	if err != nil {
		t.Fatalf("ansible is not installed (Debian package ansible-core; `make deps` installs it): %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(strings.TrimPrefix(first, "#!"))
	if len(fields) == 0 {
		t.Fatalf("%s has no #! line", path)
	}
	if filepath.Base(fields[0]) == "env" && len(fields) > 1 {
		return fields[1]
	}
	return fields[0]
}

// TestDifferentialWithAnsible writes a few hundred random INI and YAML
// inventories (testdata/differential.py) and checks that kplay and
// ansible-core's own inventory code agree on each: both refuse it (kplay
// may refuse more, see the package doc), or they give the same hosts for
// every pattern, the same groups and the same variables. Hosts are compared
// as sets: in nested groups Ansible's order follows Python set iteration
// (TestCompareListHostsWithAnsible checks the order).
func TestDifferentialWithAnsible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ansible-core on a few hundred inventories")
	}
	dir, env := ansibleEnv(t)
	out := filepath.Join(dir, "inventories")
	script, _ := filepath.Abs("testdata/differential.py")
	res := runAnsible(t, dir, env, ansiblePython(t), script, "20261125", "300", out)
	var cases []struct {
		Path     string
		Error    string
		Patterns map[string][]string
		Groups   map[string][]string
		Hostvars map[string]map[string]any
	}
	if err := json.Unmarshal([]byte(res), &cases); err != nil {
		t.Fatalf("differential.py output: %v\n%.2000s", err, res)
	}
	refused, compared := 0, 0
	for _, c := range cases {
		src, _ := os.ReadFile(c.Path)
		fail := func(format string, args ...any) {
			t.Errorf("%s: %s\n%s", c.Path, fmt.Sprintf(format, args...), src)
		}
		inv, ds := Load([]string{c.Path})
		if c.Error != "" {
			refused++
			if len(ds) == 0 {
				fail("ansible refuses it (%s), kplay does not", c.Error)
			}
			continue
		}
		if len(ds) > 0 {
			if !strings.Contains(ds.Error(), "duplicate") {
				fail("kplay refuses it, ansible does not:\n%v", ds.Err())
			}
			continue
		}
		compared++
		for p, want := range c.Patterns {
			hs, err := inv.Hosts(p)
			if err != nil {
				fail("pattern %q: %v", p, err)
				continue
			}
			if got := sortedCopy(names(hs)); !reflect.DeepEqual(got, sortedCopy(want)) {
				fail("pattern %q:\n kplay:   %v\n ansible: %v", p, got, sortedCopy(want))
			}
		}
		groups := inv.Groups()
		if len(groups) != len(c.Groups) {
			fail("groups:\n kplay:   %v\n ansible: %v", groups, c.Groups)
		}
		for g, want := range c.Groups {
			if got := sortedCopy(groups[g]); !reflect.DeepEqual(got, sortedCopy(want)) {
				fail("group %s:\n kplay:   %v\n ansible: %v", g, got, sortedCopy(want))
			}
		}
		for h, want := range c.Hostvars {
			hv := inv.HostVars(h)
			got := map[string]any{}
			for k := range want {
				got[k] = hv[k]
			}
			if g, w := jsonNorm(t, got), jsonNorm(t, want); !reflect.DeepEqual(g, w) {
				fail("vars of %s:\n kplay:   %v\n ansible: %v", h, g, w)
			}
		}
	}
	t.Logf("%d inventories: %d refused by both, %d compared", len(cases), refused, compared)
	if compared < len(cases)/4 {
		t.Errorf("only %d of %d inventories compared: the generator makes too many bad ones", compared, len(cases))
	}
}

// TestComparePlaybookVarsWithAnsible: group_vars/ and host_vars/ beside the
// playbook (WithPlaybookDir) rank as in ansible-playbook, against a debug
// task's answer.
func TestComparePlaybookVarsWithAnsible(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ansible-playbook")
	}
	dir, env := ansibleEnv(t)
	proj, _ := filepath.Abs("testdata/project")
	base := mustLoad(t, filepath.Join(proj, "inventory"))
	inv, ds := base.WithPlaybookDir(proj)
	if ds.Err() != nil {
		t.Fatal(ds.Err())
	}
	if w := base.HostVars("web1")["w"]; w != "inv_hv" {
		t.Errorf("WithPlaybookDir changed its receiver: w = %v", w)
	}
	aenv := append(env, "ANSIBLE_STDOUT_CALLBACK=json")
	out := runAnsible(t, dir, aenv, "ansible-playbook", "-i", filepath.Join(proj, "inventory"), filepath.Join(proj, "site.yml"))
	var res struct {
		Plays []struct {
			Tasks []struct {
				Hosts map[string]struct {
					Msg map[string]any `json:"msg"`
				} `json:"hosts"`
			} `json:"tasks"`
		} `json:"plays"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Plays) != 1 || len(res.Plays[0].Tasks) != 1 {
		t.Fatalf("ansible-playbook output: %v\n%s", err, out)
	}
	for host, r := range res.Plays[0].Tasks[0].Hosts {
		hv := inv.HostVars(host)
		for k, want := range r.Msg {
			got, ok := hv[k]
			if !ok {
				got = "unset"
			}
			if got != want {
				t.Errorf("%s: %s = %v; ansible-playbook says %v", host, k, got, want)
			}
		}
	}
	if len(res.Plays[0].Tasks[0].Hosts) != 2 {
		t.Errorf("ansible-playbook answered for %d hosts, want 2:\n%s", len(res.Plays[0].Tasks[0].Hosts), out)
	}
}
