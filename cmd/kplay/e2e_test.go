package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"kplay/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	e2eBook = "testdata/e2e/site.yml"
	e2eInv  = "testdata/e2e/inventory/hosts.ini"
)

// kplay runs the command line in-process.
func kplay(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// hashTree records every path under root with its type, mode and content
// hash, so a test can tell that nothing at all changed.
func hashTree(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		v := st.Mode().String()
		if st.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			v += " " + hex.EncodeToString(s[:])
		}
		m[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func events(t *testing.T, out string) []engine.Event {
	t.Helper()
	var evs []engine.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e engine.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("output line is not a JSON event: %v\n%s", err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

// outcomes maps "task|host" to the status of its host result.
func outcomes(evs []engine.Event) map[string]engine.Event {
	m := map[string]engine.Event{}
	for _, e := range evs {
		if e.Type == engine.EvHostResult {
			m[e.Task+"|"+e.Host] = e
		}
	}
	return m
}

func recapOf(t *testing.T, evs []engine.Event) map[string]engine.HostStats {
	t.Helper()
	last := evs[len(evs)-1]
	if last.Type != engine.EvRecap {
		t.Fatalf("last event is %s, want recap", last.Type)
	}
	m := map[string]engine.HostStats{}
	for _, s := range last.Recap {
		m[s.Host] = s
	}
	return m
}

func TestEndToEnd(t *testing.T) {
	root := t.TempDir()
	args := []string{e2eBook, "-i", e2eInv, "-e", "root=" + root, "--output", "json"}

	// --check on a fresh tree changes nothing at all.
	before := hashTree(t, root)
	code, checkOut, stderr := kplay(t, append(args, "--check", "--diff")...)
	if code != 0 {
		t.Fatalf("check run: exit %d\n%s\n%s", code, checkOut, stderr)
	}
	if after := hashTree(t, root); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("--check changed the tree:\nbefore %v\nafter  %v", before, after)
	}
	checkEvs := events(t, checkOut)

	code, realOut, stderr := kplay(t, args...)
	if code != 0 {
		t.Fatalf("real run: exit %d\n%s\n%s", code, realOut, stderr)
	}
	realEvs := events(t, realOut)

	t.Run("check reports the same changes", func(t *testing.T) {
		chk, rl := outcomes(checkEvs), outcomes(realEvs)
		for k, e := range rl {
			c, ok := chk[k]
			if e.Status == engine.StatusChanged && (!ok || (c.Status != engine.StatusChanged && c.Status != engine.StatusSkipped)) {
				t.Errorf("%s: changed in the real run, %q in check", k, c.Status)
			}
		}
		for k, c := range chk {
			if c.Status == engine.StatusChanged && rl[k].Status != engine.StatusChanged {
				t.Errorf("%s: changed in check, %q in the real run", k, rl[k].Status)
			}
		}
	})

	t.Run("files", func(t *testing.T) {
		for _, h := range []string{"web1", "web2"} {
			port := map[string]string{"web1": "8080", "web2": "8081"}[h]
			conf := readFile(t, root, h, "etc/app.conf")
			want := "# demo on " + h + "\nport = " + port + "\ngreeting = hello\npackage alpha 1.0\npackage gamma 0.3\n"
			if conf != want {
				t.Errorf("%s app.conf = %q, want %q", h, conf, want)
			}
			for file, want := range map[string]string{
				"etc/motd":       "welcome to the e2e host\n",
				"data/alpha.ver": "alpha=1.0\n",
				"data/gamma.ver": "gamma=0.3\n",
				"data/marker":    "made\n",
				"log/rescued":    "rescued\n",
				"log/restarted":  "restarted\n",
				"etc/secret":     "s3cr3t-value\n",
			} {
				if got := readFile(t, root, h, file); got != want {
					t.Errorf("%s %s = %q, want %q", h, file, got, want)
				}
			}
			for file, mode := range map[string]fs.FileMode{"etc/app.conf": 0o640, "etc/secret": 0o600, "etc": 0o755} {
				st, err := os.Stat(filepath.Join(root, h, file))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != mode {
					t.Errorf("%s %s mode %o, want %o", h, file, st.Mode().Perm(), mode)
				}
			}
			for _, missing := range []string{"data/beta.ver", "etc/never"} {
				if _, err := os.Stat(filepath.Join(root, h, missing)); err == nil {
					t.Errorf("%s %s exists", h, missing)
				}
			}
		}
		if got := readFile(t, root, "", "once.txt"); got != "once\n" {
			t.Errorf("once.txt = %q", got)
		}
	})

	t.Run("statuses", func(t *testing.T) {
		o := outcomes(realEvs)
		for _, tc := range []struct {
			task, host string
			status     engine.Status
		}{
			{"config", "web1", engine.StatusChanged},
			{"read the environment", "web2", engine.StatusOK},
			{"the environment was passed", "web1", engine.StatusOK},
			{"a failure that is ignored", "web1", engine.StatusFailed},
			{"failed_when decides", "web2", engine.StatusOK},
			{"this fails", "web1", engine.StatusFailed},
			{"rescued", "web1", engine.StatusChanged},
			{"always runs", "web2", engine.StatusOK},
			{"once, on the control machine", "web1", engine.StatusChanged},
			{"skipped by when", "web1", engine.StatusSkipped},
			{"tagged always", "web2", engine.StatusOK},
			{"root it is", "web1", engine.StatusOK},
			{"app config changed", "web1", engine.StatusChanged},
			{"a listener", "web2", engine.StatusOK},
			{"still fine", "web2", engine.StatusOK},
			{"Gathering Facts", "web1", engine.StatusOK},
		} {
			e, ok := o[tc.task+"|"+tc.host]
			if !ok {
				t.Errorf("%s on %s: no result", tc.task, tc.host)
				continue
			}
			if e.Status != tc.status {
				t.Errorf("%s on %s: %s (%s), want %s", tc.task, tc.host, e.Status, e.Msg, tc.status)
			}
		}
		for _, task := range []string{"never reached", "tagged never", "unused handler"} {
			for _, h := range []string{"web1", "web2"} {
				if _, ok := o[task+"|"+h]; ok {
					t.Errorf("%s ran on %s", task, h)
				}
			}
		}
		if _, ok := o["once, on the control machine|web2"]; ok {
			t.Error("run_once task ran on web2")
		}
		if e := o["a failure that is ignored|web1"]; !e.Ignored {
			t.Error("ignored failure not marked ignored")
		}
		if e := o["once, on the control machine|web1"]; e.Delegated != "localhost" {
			t.Errorf("delegated_to = %q", e.Delegated)
		}
		if e := o["show facts and magic variables|web2"]; !strings.Contains(e.Msg, "demo-web2 on Linux; 2 web hosts; web1 port 8080; groups app,web") {
			t.Errorf("debug msg = %q", e.Msg)
		}
	})

	t.Run("retries show progress", func(t *testing.T) {
		n := 0
		for _, e := range realEvs {
			if e.Type == engine.EvProgress && e.Task == "retry until the counter is long enough" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d progress events for the retried task, want 2 (one per host)", n)
		}
	})

	t.Run("no_log hides the secret", func(t *testing.T) {
		for name, out := range map[string]string{"check": checkOut, "real": realOut} {
			if strings.Contains(out, "s3cr3t") {
				t.Errorf("%s output shows the secret", name)
			}
		}
	})

	t.Run("recap", func(t *testing.T) {
		for h, s := range recapOf(t, realEvs) {
			if h != "web1" && h != "web2" {
				t.Errorf("recap for %s", h)
				continue
			}
			if s.Failed != 0 || s.Unreachable != 0 || s.Rescued != 1 || s.Ignored != 1 || s.Changed == 0 || s.Skipped == 0 {
				t.Errorf("%s recap %+v", h, s)
			}
		}
	})

	t.Run("second run changes nothing", func(t *testing.T) {
		code, out, stderr := kplay(t, args...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		for h, s := range recapOf(t, events(t, out)) {
			if s.Changed != 0 {
				var changed []string
				for _, e := range events(t, out) {
					if e.Status == engine.StatusChanged {
						changed = append(changed, e.Task+"@"+e.Host)
					}
				}
				t.Errorf("%s: changed=%d on the second run: %v", h, s.Changed, changed)
			}
		}
	})
}

func readFile(t *testing.T, root, host, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, host, file))
	if err != nil {
		t.Error(err)
		return ""
	}
	return string(b)
}

// normalize makes text output comparable: the temp root and the elapsed
// time vary between runs.
func normalize(s, root string) string {
	s = strings.ReplaceAll(s, root, "ROOT")
	s = regexp.MustCompile(`elapsed: [0-9.]+s`).ReplaceAllString(s, "elapsed: Xs")
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/kplay -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\ngot:  %q\nwant: %q\n\nwhole output:\n%s", path, i+1, g, w, got)
			}
		}
	}
}

// TestGoldenText compares the text output of a --check --diff run and of
// the real run with golden files. The play is serial, one host a batch, so
// the order of lines is fixed.
func TestGoldenText(t *testing.T) {
	root := t.TempDir()
	t.Setenv("NO_COLOR", "1")
	// One fork: hosts of a batch report in inventory order.
	base := []string{e2eBook, "-i", e2eInv, "-e", "root=" + root, "-f", "1"}
	tests := []struct {
		name string
		args []string
	}{
		{"check_diff.txt", []string{"--check", "--diff"}},
		{"run.txt", nil},
		{"rerun.txt", nil},
		{"tags_static.txt", []string{"-t", "static"}},
		{"start_at.txt", []string{"--start-at-task", "a secret", "--skip-tags", "static"}},
		{"list_hosts.txt", []string{"--list-hosts", "-l", "web2"}},
		{"list_tasks.txt", []string{"--list-tasks", "--skip-tags", "blocky"}},
		{"syntax_check.txt", []string{"--syntax-check"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := kplay(t, append(append([]string(nil), base...), tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
			}
			golden(t, tc.name, normalize(out, root))
		})
	}
}

func TestExitCodes(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string // in stdout+stderr
	}{
		{"a host fails, the other goes on", []string{"testdata/fail.yml", "-i", e2eInv, "-e", "root=" + root}, 2,
			[]string{"fatal: [web1]: FAILED! => shell failed: rc 1", "ok: [web2]", "after the failure on web2", "web1                       : ok=0    changed=0    unreachable=0    failed=1"}},
		{"unreachable", []string{"testdata/unreachable.yml", "-i", "testdata/unreachable.ini"}, 4,
			[]string{"fatal: [ghost]: UNREACHABLE!", "ok: [localhost]", "unreachable=1"}},
		{"any_errors_fatal stops everyone", []string{"testdata/fatal.yml", "-i", e2eInv}, 2,
			[]string{"NO MORE HOSTS LEFT", "any_errors_fatal"}},
		{"max_fail_percentage stops the play", []string{"testdata/maxfail.yml", "-i", e2eInv}, 2,
			[]string{"max_fail_percentage: 1 of 2 hosts failed (50% > 40%)", "NO MORE HOSTS LEFT"}},
		{"start at a task that does not exist", []string{e2eBook, "-i", e2eInv, "-e", "root=" + root, "--start-at-task", "a secrte"}, 5,
			[]string{`did you mean "a secret"`}},
		{"limit matches nothing", []string{e2eBook, "-i", e2eInv, "-e", "root=" + root, "-l", "nosuch"}, 1,
			[]string{`--limit "nosuch": matches no host`}},
		{"bad flag", []string{"--no-such-flag", e2eBook}, 5, []string{"flag provided but not defined"}},
		{"no playbook", []string{"-i", e2eInv}, 5, []string{"no playbook given"}},
		{"bad extra vars", []string{e2eBook, "-e", "novalue"}, 5, []string{"want key=value"}},
		{"version", []string{"--version"}, 0, []string{"kplay "}},
		{"missing playbook", []string{"testdata/nope.yml"}, 4, []string{"testdata/nope.yml"}},
		{"template error at the template's line", []string{"testdata/bad_template.yml", "-e", "root=" + root}, 4, []string{"broken.j2:2:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", "1")
			code, out, stderr := kplay(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tc.code, out, stderr)
			}
			for _, c := range tc.contains {
				if !strings.Contains(out+stderr, c) {
					t.Errorf("output lacks %q:\n%s\n%s", c, out, stderr)
				}
			}
		})
	}
}

// TestBadInput: each file under testdata/bad marks the lines where kplay
// must report a problem with `# ERROR: text`; kplay must report exactly
// those, with their line, exit 4, and run nothing (each playbook would
// create a file).
func TestBadInput(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad-input files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			root := t.TempDir()
			want := expectedErrors(t, f)
			code, out, stderr := kplay(t, f, "-i", "testdata/bad/inventory.ini", "-e", "root="+root)
			if code != exitBadInput {
				t.Errorf("exit %d, want %d\n%s%s", code, exitBadInput, out, stderr)
			}
			if out != "" {
				t.Errorf("stdout not empty: something ran:\n%s", out)
			}
			if entries, _ := os.ReadDir(root); len(entries) > 0 {
				t.Errorf("the run touched %s", root)
			}
			got := map[int][]string{}
			for _, line := range strings.Split(stderr, "\n") {
				rest, ok := strings.CutPrefix(line, f+":")
				if !ok {
					continue
				}
				var ln int
				fmt.Sscanf(rest, "%d", &ln)
				got[ln] = append(got[ln], line)
			}
			var lines []int
			for ln := range want {
				lines = append(lines, ln)
			}
			sort.Ints(lines)
			for _, ln := range lines {
				found := false
				for _, g := range got[ln] {
					if strings.Contains(g, want[ln]) {
						found = true
					}
				}
				if !found {
					t.Errorf("line %d: want an error containing %q; got:\n%s", ln, want[ln], stderr)
				}
			}
			for ln := range got {
				if _, ok := want[ln]; !ok {
					t.Errorf("unexpected error on line %d:\n%s", ln, strings.Join(got[ln], "\n"))
				}
			}
		})
	}
}

func expectedErrors(t *testing.T, path string) map[int]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{}
	for i, line := range strings.Split(string(b), "\n") {
		if _, msg, ok := strings.Cut(line, "# ERROR: "); ok {
			want[i+1] = strings.TrimSpace(msg)
		}
	}
	if len(want) == 0 {
		t.Fatalf("%s has no # ERROR: marker", path)
	}
	return want
}

// TestInterrupt cancels the run while a command sleeps: the command is
// killed, the recap is printed, and the exit code is 99.
func TestInterrupt(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		defer pw.Close()
		done <- run(ctx, []string{"testdata/sleep.yml", "-e", "marker=started"}, &lineWriter{w: pw, buf: &out}, &errb)
	}()
	// Cancel once the sleeping task has started.
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "TASK [sleep]") {
			break
		}
	}
	cancel()
	go func() {
		for sc.Scan() {
		}
	}()
	code := <-done
	if code != exitInterrupted {
		t.Errorf("exit %d, want %d\n%s\n%s", code, exitInterrupted, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "PLAY RECAP") {
		t.Errorf("no recap after the interrupt:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "failed=0") {
		t.Errorf("the cut task should show as interrupted, not count as failed:\n%s", out.String())
	}
	if strings.Contains(out.String(), "TASK [after]") {
		t.Errorf("a task started after the interrupt:\n%s", out.String())
	}
}

// lineWriter copies output to a pipe (for the test to watch) and a buffer.
type lineWriter struct {
	w   *os.File
	buf *bytes.Buffer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf.Write(p)
	l.w.Write(p)
	return len(p), nil
}
