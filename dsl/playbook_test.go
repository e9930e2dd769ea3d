package dsl

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"kplay/diag"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/good")

// markerRe finds an expected diagnostic written in a bad-input file:
// "# ERROR: msg" (YAML) or "{# ERROR: msg #}" (templates) on the line the
// error is reported at, or "# ERROR@N: msg" for line N when the line itself
// cannot hold a comment (inside a block scalar).
var markerRe = regexp.MustCompile(`(?:#|\{#) ERROR(?:@(\d+))?: (.*?)(?: #\})?$`)

type expected struct {
	line int
	msg  string
}

func markers(t *testing.T, path string) []expected {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []expected
	for i, line := range strings.Split(string(b), "\n") {
		m := markerRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n := i + 1
		if m[1] != "" {
			n, _ = strconv.Atoi(m[1])
		}
		out = append(out, expected{n, m[2]})
	}
	return out
}

// definedOutside stands for the inventory and -e variables the command line
// passes to CheckNames.
func definedOutside(name string) bool { return name == "inventory_var" || name == "kcm_version" }

func parseAny(path string) diag.Diagnostics {
	if strings.HasSuffix(path, ".j2") {
		_, err := LoadTemplateFile(path)
		if err == nil {
			return nil
		}
		var pe *PosError
		if !asPosError(err, &pe) {
			return diag.Diagnostics{{Pos: Pos{File: path}, Msg: err.Error()}}
		}
		return diag.Diagnostics{{Pos: pe.Pos, Msg: pe.Msg}}
	}
	if strings.HasPrefix(filepath.Base(path), "vars_") {
		_, ds := LoadVarsFile(path)
		return ds
	}
	pb, ds := LoadPlaybook(path, testSchemas())
	if pb != nil {
		ds = append(ds, pb.CheckNames(definedOutside)...)
	}
	return ds
}

func TestBadInputs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Errorf("only %d bad-input files, want at least 25", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := markers(t, path)
			if len(want) == 0 {
				t.Fatalf("%s has no ERROR marker", path)
			}
			ds := parseAny(path)
			var got []expected
			for _, d := range ds {
				if d.Pos.File != path {
					t.Errorf("diagnostic for another file: %s", d)
					continue
				}
				got = append(got, expected{d.Pos.Line, d.Msg})
			}
			sortExp(want)
			sortExp(got)
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("diagnostics differ\nwant:\n%s\ngot:\n%s\nfull:\n%s", fmtExp(want), fmtExp(got), ds.Error())
			}
		})
	}
}

func sortExp(es []expected) {
	sort.Slice(es, func(i, j int) bool {
		if es[i].line != es[j].line {
			return es[i].line < es[j].line
		}
		return es[i].msg < es[j].msg
	})
}

func fmtExp(es []expected) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "  %d: %s\n", e.line, e.msg)
	}
	return b.String()
}

// TestGoodInputs parses each playbook in testdata/good and compares a dump
// of its AST with the .golden file beside it (go test -update rewrites them).
func TestGoodInputs(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no files in testdata/good")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			pb, ds := LoadPlaybook(path, testSchemas())
			if len(ds) > 0 {
				t.Fatalf("diagnostics:\n%s", ds.Error())
			}
			if ds := pb.CheckNames(definedOutside); len(ds) > 0 {
				t.Fatalf("CheckNames:\n%s", ds.Error())
			}
			got := dumpPlaybook(pb)
			golden := strings.TrimSuffix(path, ".yml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./dsl -run TestGoodInputs -update)", err)
			}
			if got != string(want) {
				t.Errorf("AST differs from %s\ngot:\n%s", golden, got)
			}
		})
	}
}

func dumpPlaybook(pb *Playbook) string {
	var b strings.Builder
	for _, p := range pb.Plays {
		fmt.Fprintf(&b, "play %q @%d:%d hosts=%q @%d:%d\n", p.Name, p.Pos.Line, p.Pos.Col, p.Hosts, p.HostsPos.Line, p.HostsPos.Col)
		if p.Become != nil {
			fmt.Fprintf(&b, "  become=%v user=%q\n", *p.Become, p.BecomeUser)
		}
		fmt.Fprintf(&b, "  gather_facts=%v any_errors_fatal=%v serial=%v tags=%v\n", p.GatherFacts, p.AnyErrorsFatal, p.Serial, p.Tags)
		if p.MaxFailPercentage != nil {
			fmt.Fprintf(&b, "  max_fail_percentage=%v\n", *p.MaxFailPercentage)
		}
		dumpEntries(&b, "  var", p.Vars)
		for _, v := range p.VarsFiles {
			fmt.Fprintf(&b, "  vars_file %s\n", dumpValue(v))
		}
		dumpEntries(&b, "  env", p.Environment)
		for i, t := range p.Tasks {
			for _, f := range p.Flushes {
				if f == i {
					fmt.Fprintf(&b, "  flush handlers\n")
				}
			}
			dumpTask(&b, "  task", t)
		}
		for _, t := range p.Handlers {
			dumpTask(&b, "  handler", t)
		}
	}
	return b.String()
}

func dumpEntries(b *strings.Builder, prefix string, es []*Entry) {
	for _, e := range es {
		fmt.Fprintf(b, "%s %s @%d:%d = %s\n", prefix, e.Key, e.KeyPos.Line, e.KeyPos.Col, dumpValue(e.Value))
	}
}

func dumpValue(v *Value) string {
	switch v.Kind {
	case Null:
		return "null"
	case Scalar:
		return fmt.Sprintf("%#v", v.Scalar)
	case Text:
		return fmt.Sprintf("tmpl(%q @%d:%d names=%v)", v.Tmpl.Src, v.Pos.Line, v.Pos.Col, v.Names())
	case List:
		var parts []string
		for _, x := range v.List {
			parts = append(parts, dumpValue(x))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case Map:
		var parts []string
		for _, e := range v.Map {
			parts = append(parts, e.Key+": "+dumpValue(e.Value))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "?"
}

func dumpExprs(es []*Expr) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%q@%d:%d", e.Src, e.Pos.Line, e.Pos.Col))
	}
	return strings.Join(parts, " && ")
}

func dumpTask(b *strings.Builder, prefix string, t *Task) {
	indent := strings.Repeat(" ", len(prefix)-len(strings.TrimLeft(prefix, " ")))
	kind := t.Module
	if t.IsBlock() {
		kind = "block"
	}
	fmt.Fprintf(b, "%s %q %s @%d:%d\n", prefix, t.Name, kind, t.Pos.Line, t.Pos.Col)
	in := indent + "    "
	dumpEntries(b, in+"arg", t.Args)
	if t.Meta != "" {
		fmt.Fprintf(b, "%smeta %s\n", in, t.Meta)
	}
	if len(t.When) > 0 {
		fmt.Fprintf(b, "%swhen %s\n", in, dumpExprs(t.When))
	}
	if t.Loop != nil {
		fmt.Fprintf(b, "%sloop %s as %s\n", in, dumpValue(t.Loop), t.LoopVar)
	}
	if t.Register != "" {
		fmt.Fprintf(b, "%sregister %s\n", in, t.Register)
	}
	if len(t.Notify) > 0 || len(t.Listen) > 0 {
		fmt.Fprintf(b, "%snotify %q listen %q\n", in, t.Notify, t.Listen)
	}
	if len(t.ChangedWhen) > 0 {
		fmt.Fprintf(b, "%schanged_when %s\n", in, dumpExprs(t.ChangedWhen))
	}
	if len(t.FailedWhen) > 0 {
		fmt.Fprintf(b, "%sfailed_when %s\n", in, dumpExprs(t.FailedWhen))
	}
	if len(t.Until) > 0 {
		fmt.Fprintf(b, "%suntil %s retries=%d delay=%v\n", in, dumpExprs(t.Until), t.Retries, t.Delay)
	}
	var flags []string
	if t.IgnoreErrors {
		flags = append(flags, "ignore_errors")
	}
	if t.RunOnce {
		flags = append(flags, "run_once")
	}
	if t.AnyErrorsFatal {
		flags = append(flags, "any_errors_fatal")
	}
	if t.WithItems {
		flags = append(flags, "with_items")
	}
	if t.NoLog {
		flags = append(flags, "no_log")
	}
	if t.Timeout > 0 {
		flags = append(flags, fmt.Sprintf("timeout=%d", t.Timeout))
	}
	if t.Become != nil {
		flags = append(flags, fmt.Sprintf("become=%v", *t.Become))
	}
	if t.BecomeUser != "" {
		flags = append(flags, "become_user="+t.BecomeUser)
	}
	if t.CheckMode != nil {
		flags = append(flags, fmt.Sprintf("check_mode=%v", *t.CheckMode))
	}
	if t.DelegateTo != "" {
		flags = append(flags, "delegate_to="+t.DelegateTo)
	}
	if len(t.Tags) > 0 {
		flags = append(flags, fmt.Sprintf("tags=%v", t.Tags))
	}
	if len(flags) > 0 {
		fmt.Fprintf(b, "%s%s\n", in, strings.Join(flags, " "))
	}
	dumpEntries(b, in+"var", t.Vars)
	dumpEntries(b, in+"env", t.Environment)
	for _, c := range t.Block {
		dumpTask(b, in+"block", c)
	}
	for _, c := range t.Rescue {
		dumpTask(b, in+"rescue", c)
	}
	for _, c := range t.Always {
		dumpTask(b, in+"always", c)
	}
}
