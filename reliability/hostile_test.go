package reliability

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// canary is a random string that must never show up where it should not.
func canary(t *testing.T, what string) string {
	var b [6]byte
	rand.Read(b[:])
	return what + "-" + hex.EncodeToString(b[:])
}

// evilValues are variable values that would run `touch pwned` if a module
// pasted them into a shell command unquoted.
func evilValues(pwned string) []string {
	return []string{
		"x; touch " + pwned,
		"x;touch${IFS}" + pwned,
		"$(touch " + pwned + ")",
		"`touch " + pwned + "`",
		"x' ; touch " + pwned + " ; '",
		`x" ; touch ` + pwned + ` ; "`,
		"x\ntouch " + pwned,
		"x && touch " + pwned,
		"x | touch " + pwned,
		"x\\'; touch " + pwned + "; #",
		"-rf; touch " + pwned,
	}
}

// TestHostileVariables: variables full of shell metacharacters, newlines
// and quotes reach the arguments that modules turn into commands on the
// host (shell's creates, removes and chdir; file, copy and template
// paths). Each is quoted or refused; none is executed.
func TestHostileVariables(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	dir := t.TempDir()
	dir0, _ := os.Getwd()
	f := newFleet(t, 1)
	// No slash in the name, so every value is also a valid file name: the
	// path arguments must create files of these literal names. A command
	// that escaped would create pwned in its working directory: the login's
	// home, /, or a chdir target.
	pwned := canary(t, "pwned")
	root, err := user.Lookup("root")
	if err != nil {
		t.Fatal(err)
	}
	escaped := func() []string {
		var out []string
		for _, d := range []string{root.HomeDir, "/", f.root, filepath.Join(f.root, "host1"), dir0} {
			if _, err := os.Stat(filepath.Join(d, pwned)); err == nil {
				out = append(out, filepath.Join(d, pwned))
				os.Remove(filepath.Join(d, pwned))
			}
		}
		return out
	}
	writeFile(t, dir, "templates/t.j2", "v={{ item }}\n")
	book := writeFile(t, dir, "site.yml", `- hosts: all
  gather_facts: false
  tasks:
    - name: shell creates
      shell: echo ran
      args:
        creates: "{{ item }}"
      loop: "{{ evils }}"
    - name: shell removes
      shell: echo ran
      args:
        removes: "{{ item }}"
      loop: "{{ evils }}"
    - name: shell chdir
      shell: pwd
      args:
        chdir: "{{ item }}"
      loop: "{{ evils }}"
      ignore_errors: true
    - name: file path
      file:
        path: "{{ root }}/host1/{{ item }}"
        state: touch
      loop: "{{ evils }}"
      ignore_errors: true
    - name: file directory
      file:
        path: "{{ root }}/host1/d-{{ item }}"
        state: directory
        mode: "0700"
      loop: "{{ evils }}"
      ignore_errors: true
    - name: copy dest
      copy:
        content: "{{ item }}\n"
        dest: "{{ root }}/host1/c-{{ item }}"
        owner: "{{ item }}"
      loop: "{{ evils }}"
      ignore_errors: true
    - name: template dest
      template:
        src: t.j2
        dest: "{{ root }}/host1/t-{{ item }}"
        mode: "{{ item }}"
      loop: "{{ evils }}"
      ignore_errors: true
    - name: become user
      command: id -un
      become: true
      become_user: "{{ item }}"
      loop: "{{ evils }}"
      ignore_errors: true
`)
	vars, _ := json.Marshal(map[string]any{"evils": evilValues(pwned), "root": f.root})
	varsFile := writeFile(t, dir, "vars.json", string(vars))
	r := kplay(t, book, "-i", f.inventory(t), "--output", "json", "-e", "@"+varsFile)
	if e := escaped(); len(e) > 0 {
		t.Fatalf("a hostile variable was executed: %v exists\n%s", e, r)
	}
	// The values reached the host: creates and removes ran their command
	// for every value (no such file), and every path argument created a
	// file or directory of the value's literal name.
	ran := 0
	for _, e := range r.Events(t) {
		if e.Type == "item_result" && (e.Task == "shell creates" || e.Task == "shell removes") && e.Status != "" {
			ran++
		}
	}
	if ran != 2*len(evilValues(pwned)) {
		t.Errorf("%d creates/removes items, want %d:\n%s", ran, 2*len(evilValues(pwned)), r)
	}
	for _, v := range evilValues(pwned) {
		for _, prefix := range []string{"", "d-", "c-", "t-"} {
			if prefix == "t-" || prefix == "c-" {
				continue // owner and mode are hostile there too: those tasks must fail
			}
			if _, err := os.Lstat(filepath.Join(f.root, "host1", prefix+v)); err != nil {
				t.Errorf("%q was not created literally: %v", prefix+v, err)
			}
		}
	}
	for _, e := range r.Events(t) {
		if e.Type == "item_result" && (e.Task == "copy dest" || e.Task == "template dest" || e.Task == "become user") && e.Status != "failed" {
			t.Errorf("%s with item %v: %s, want failed (refused)", e.Task, e.Item, e.Status)
		}
	}
}

// TestNoLog: a task under no_log shows neither its arguments nor its
// results, in any output: text at -vvv, JSON, --diff, and its failure
// message; loop items are censored too.
func TestNoLog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	f := newFleet(t, 1)
	secret := canary(t, "SECRET")
	book := writeFile(t, t.TempDir(), "site.yml", `- hosts: all
  gather_facts: false
  tasks:
    - name: write a secret
      copy:
        content: "{{ secret }}\n"
        dest: "{{ root }}/host1/plain.conf"
      no_log: true
    - name: print it
      debug:
        msg: "the secret is {{ secret }}"
      no_log: true
    - name: command output
      shell: "echo {{ secret }}; echo {{ secret }} >&2"
      no_log: true
      register: out
    - name: loop items
      shell: "echo {{ item }}"
      loop: ["{{ secret }}", "b"]
      no_log: true
    - name: block hides too
      no_log: true
      block:
        - debug:
            msg: "{{ secret }}"
    - name: failing
      shell: "echo {{ secret }}; echo {{ secret }} >&2; exit 3"
      no_log: true
`)
	for _, c := range []struct {
		name string
		args []string
		code int // the last task fails, unless check mode skips it
	}{
		{"text -vvv --diff", []string{"-vvv", "--diff"}, 2},
		{"json --diff", []string{"--output", "json", "--diff"}, 2},
		{"text --check --diff", []string{"--check", "--diff", "-vvv"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(filepath.Join(f.root, "host1", "plain.conf"))
			args := append([]string{book, "-i", f.inventory(t), "-e", "root=" + f.root, "-e", "secret=" + secret}, c.args...)
			r := kplay(t, args...)
			if r.Code != c.code {
				t.Fatalf("want exit %d:\n%s", c.code, r)
			}
			if strings.Contains(r.Stdout.String()+r.Stderr.String(), secret) {
				t.Errorf("the secret shows:\n%s", r)
			}
			if !strings.Contains(r.Stdout.String(), "no_log") && !strings.Contains(r.Stdout.String(), "censored") {
				t.Errorf("no sign of no_log in the output:\n%s", r)
			}
		})
	}
}

// TestSecretFilesNotDiffed: with --diff, a file whose name says key,
// password, secret or token, or whose mode only its owner may read, shows
// that it changed, never its content (before or after).
func TestSecretFilesNotDiffed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	f := newFleet(t, 1)
	old, neu := canary(t, "OLD"), canary(t, "NEW")
	files := []string{"server.key", "db-password", "api_token.txt", "client-key.pem", "id_ed25519", "secret.yml", "private.conf"}
	var tasks strings.Builder
	for _, n := range files {
		writeFile(t, filepath.Join(f.root, "host1"), n, old+"\n")
		mode := ""
		if n == "private.conf" {
			mode = "\n        mode: \"0600\""
			os.Chmod(filepath.Join(f.root, "host1", n), 0o600)
		}
		fmt.Fprintf(&tasks, "    - copy:\n        content: \"%s\\n\"\n        dest: \"{{ root }}/host1/%s\"%s\n", neu, n, mode)
	}
	book := writeFile(t, t.TempDir(), "site.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n"+tasks.String())
	for _, args := range [][]string{{"--diff", "-vvv"}, {"--diff", "--output", "json"}, {"--diff", "--check"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := kplay(t, append([]string{book, "-i", f.inventory(t), "-e", "root=" + f.root}, args...)...)
			if r.Code != 0 {
				t.Fatalf("%s", r)
			}
			out := r.Stdout.String() + r.Stderr.String()
			if strings.Contains(out, old) || strings.Contains(out, neu) {
				t.Errorf("a secret file's content shows:\n%s", r)
			}
		})
		// Back to the old content for the next form.
		for _, n := range files {
			writeFile(t, filepath.Join(f.root, "host1"), n, old+"\n")
		}
	}
}

// TestReadOutside: nothing in a playbook, its templates or -e values can
// read a controller file the playbook does not name: lookup() is refused,
// a template cannot include another file, and a relative src that climbs
// out of the playbook's directory is refused. (-e @file reads the file the
// operator names on the command line, and no more.)
func TestReadOutside(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	f := newFleet(t, 1)
	secret := canary(t, "OUTSIDE")
	outside := writeFile(t, t.TempDir(), "outside.j2", secret+"\n")
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, outside)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "templates/inc.j2", "{% include '"+outside+"' %}\n")
	for _, c := range []struct {
		name, task, extra string
	}{
		{"lookup in -e", "debug:\n        msg: \"{{ leak }}\"", `{"leak": "{{ lookup('file', '` + outside + `') }}"}`},
		{"lookup in a task", "debug:\n        msg: \"{{ lookup('file', '" + outside + "') }}\"", `{}`},
		{"template include", "template:\n        src: inc.j2\n        dest: \"{{ root }}/host1/inc\"", `{}`},
		{"relative src out of the playbook", "template:\n        src: \"{{ up }}\"\n        dest: \"{{ root }}/host1/up\"", `{"up": "` + rel + `"}`},
		{"relative copy src out of the playbook", "copy:\n        src: \"{{ up }}\"\n        dest: \"{{ root }}/host1/up\"", `{"up": "` + rel + `"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			book := writeFile(t, dir, "site.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - "+c.task+"\n")
			ev := writeFile(t, t.TempDir(), "extra.json", c.extra)
			r := kplay(t, book, "-i", f.inventory(t), "-e", "root="+f.root, "-e", "@"+ev, "-vvv")
			if r.Code == 0 {
				t.Errorf("want a failure:\n%s", r)
			}
			if strings.Contains(r.Stdout.String()+r.Stderr.String(), secret) {
				t.Errorf("the outside file was read:\n%s", r)
			}
			for _, p := range []string{"inc", "up"} {
				if b, err := os.ReadFile(filepath.Join(f.root, "host1", p)); err == nil {
					t.Errorf("%s landed with %q", p, b)
				}
			}
			t.Logf("exit %d: %s", r.Code, firstLine(r.Stderr.String()+r.Stdout.String(), "lookup", "include", "leaves", "not supported"))
		})
	}
}

func firstLine(s string, words ...string) string {
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				return strings.TrimSpace(l)
			}
		}
	}
	return ""
}

// TestSymlinkAtDest: a destination that is a symlink to another file (a
// stand-in for /etc/passwd) is replaced by a regular file, as Ansible's
// copy and template do by default (follow: false); the link's target is
// not written. A planted symlink cannot catch the temporary file: its name
// is random and it is created with O_EXCL (set -C).
func TestSymlinkAtDest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	f := newFleet(t, 1)
	victim := writeFile(t, t.TempDir(), "passwd", "root:x:0:0:root:/root:/bin/sh\n")
	h := filepath.Join(f.root, "host1")
	for _, n := range []string{"app.conf", "app.tpl.conf"} {
		if err := os.Symlink(victim, filepath.Join(h, n)); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	writeFile(t, dir, "templates/t.j2", "templated\n")
	book := writeFile(t, dir, "site.yml", `- hosts: all
  gather_facts: false
  tasks:
    - copy:
        content: "mine\n"
        dest: "{{ root }}/host1/app.conf"
    - template:
        src: t.j2
        dest: "{{ root }}/host1/app.tpl.conf"
`)
	r := kplay(t, book, "-i", f.inventory(t), "-e", "root="+f.root)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	if b, _ := os.ReadFile(victim); string(b) != "root:x:0:0:root:/root:/bin/sh\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	for n, want := range map[string]string{"app.conf": "mine\n", "app.tpl.conf": "templated\n"} {
		p := filepath.Join(h, n)
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v %v, want a regular file", n, fi.Mode(), err)
			continue
		}
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Errorf("%s = %q, want %q", n, b, want)
		}
	}
	if l := leftovers(t, h, "app.conf", "app.tpl.conf"); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}
