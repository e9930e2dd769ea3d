package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"kplay/engine"
)

// textOutput prints events the way ansible-playbook's default callback
// does: PLAY and TASK headers, one line per task per host, the recap.
type textOutput struct {
	w         io.Writer
	color     bool
	verbosity int
}

const (
	cReset  = "\x1b[0m"
	cGreen  = "\x1b[0;32m"
	cYellow = "\x1b[0;33m"
	cCyan   = "\x1b[0;36m"
	cRed    = "\x1b[0;31m"
	cBRed   = "\x1b[1;31m"
	cPurple = "\x1b[0;35m"
)

func (o *textOutput) paint(c, s string) string {
	if !o.color || c == "" {
		return s
	}
	return c + s + cReset
}

// banner is a header line padded with stars to 80 columns, as Ansible's.
func banner(s string) string {
	if n := 79 - len(s); n > 0 {
		return s + " " + strings.Repeat("*", n)
	}
	return s + " ***"
}

func (o *textOutput) Event(e engine.Event) {
	switch e.Type {
	case engine.EvPlayStart:
		fmt.Fprintf(o.w, "\n%s\n", banner("PLAY ["+e.Play+"]"))
	case engine.EvNoHosts:
		fmt.Fprintf(o.w, "%s\n", o.paint(cCyan, "skipping: no hosts matched"))
	case engine.EvTaskStart:
		if e.Handler {
			fmt.Fprintf(o.w, "\n%s\n", banner("RUNNING HANDLER ["+e.Task+"]"))
		} else {
			fmt.Fprintf(o.w, "\n%s\n", banner("TASK ["+e.Task+"]"))
		}
		if o.verbosity >= 2 && e.Pos != "" {
			fmt.Fprintf(o.w, "task path: %s\n", e.Pos)
		}
	case engine.EvHostResult, engine.EvItemResult:
		o.result(e)
	case engine.EvProgress:
		fmt.Fprintf(o.w, "%s\n", o.paint(cPurple, progressLine(e)))
	case engine.EvWarning:
		fmt.Fprintf(o.w, "%s\n", o.paint(cPurple, "[WARNING]: "+e.Msg))
	case engine.EvAbort:
		fmt.Fprintf(o.w, "\n%s\n%s\n", banner("NO MORE HOSTS LEFT"), o.paint(cRed, e.Msg))
	case engine.EvRecap:
		o.recap(e)
	}
}

func progressLine(e engine.Event) string {
	if e.Attempt > 0 {
		return e.Msg
	}
	return fmt.Sprintf("[%s] %s: %s", e.Host, e.Task, e.Msg)
}

func (o *textOutput) result(e engine.Event) {
	host := e.Host
	if e.Delegated != "" {
		host += " -> " + e.Delegated
	}
	item := ""
	if e.Type == engine.EvItemResult {
		item = fmt.Sprintf(" (item=%s)", itemLabel(e.Item))
	}
	if e.Loop && e.Type == engine.EvHostResult && e.Status != engine.StatusFailed && e.Status != engine.StatusUnreachable {
		// The items said it all.
		o.diffs(e)
		return
	}
	var line, col string
	switch e.Status {
	case engine.StatusOK:
		line, col = fmt.Sprintf("ok: [%s]%s", host, arrow(item)), cGreen
	case engine.StatusChanged:
		line, col = fmt.Sprintf("changed: [%s]%s", host, arrow(item)), cYellow
	case engine.StatusSkipped:
		line, col = fmt.Sprintf("skipping: [%s]%s", host, arrow(item)), cCyan
	case engine.StatusUnreachable:
		if item != "" {
			// The loop's host line that follows is the one fatal line and
			// carries the reason; this says which item met it.
			line, col = fmt.Sprintf("failed: [%s]%s: UNREACHABLE!", host, item), cBRed
			break
		}
		line, col = fmt.Sprintf("fatal: [%s]: UNREACHABLE! => %s", host, e.Msg), cBRed
	case engine.StatusFailed:
		what := "fatal"
		if item != "" {
			what = "failed"
		}
		if e.Interrupted {
			line, col = fmt.Sprintf("interrupted: [%s]%s: %s", host, item, strings.TrimPrefix(e.Msg, "interrupted: ")), cPurple
			break
		}
		line, col = fmt.Sprintf("%s: [%s]%s: FAILED! => %s", what, host, item, failLine(e)), cRed
	}
	if e.Status == engine.StatusOK || e.Status == engine.StatusChanged {
		switch {
		case e.NoLog && e.Msg != "":
			line += " => " + e.Msg
		case e.Module == "debug" && e.Msg != "":
			line += " => " + indentRest(e.Msg)
		case o.verbosity > 0 && e.Result != nil:
			line += " => " + compactJSON(e.Result)
		}
	}
	if e.Status == engine.StatusSkipped && o.verbosity > 0 && e.Msg != "" {
		line += " => " + e.Msg
	}
	fmt.Fprintf(o.w, "%s\n", o.paint(col, line))
	if e.Status == engine.StatusFailed && !e.NoLog {
		if e.Cmd != "" {
			fmt.Fprintf(o.w, "%s\n", o.paint(col, "  cmd: "+indentRest(e.Cmd)))
		}
		if s := strings.TrimRight(e.Stderr, "\n"); s != "" && !strings.Contains(e.Msg, strings.TrimSpace(s)) {
			fmt.Fprintf(o.w, "%s\n", o.paint(col, "  stderr: "+indentRest(s)))
		}
		if s := strings.TrimRight(e.Stdout, "\n"); s != "" && o.verbosity > 0 {
			fmt.Fprintf(o.w, "%s\n", o.paint(col, "  stdout: "+indentRest(s)))
		}
	}
	if e.Ignored && e.Type == engine.EvHostResult {
		// Once per host, under the loop's summary line for a loop, as
		// Ansible prints it.
		fmt.Fprintf(o.w, "%s\n", o.paint(cCyan, "...ignoring"))
	}
	o.diffs(e)
}

func arrow(item string) string {
	if item == "" {
		return ""
	}
	return " =>" + item
}

func failLine(e engine.Event) string {
	var parts []string
	// The rc leads unless the message already says it.
	if e.RC != nil && !strings.Contains(e.Msg, fmt.Sprintf("rc %d", *e.RC)) && !strings.Contains(e.Msg, fmt.Sprintf("rc=%d", *e.RC)) {
		parts = append(parts, fmt.Sprintf("rc=%d", *e.RC))
	}
	if e.Msg != "" {
		parts = append(parts, indentRest(e.Msg))
	}
	if len(parts) == 0 {
		return "failed"
	}
	return strings.Join(parts, ": ")
}

// indentRest indents the lines after the first so a multi-line message
// stays under its host line.
func indentRest(s string) string {
	return strings.ReplaceAll(s, "\n", "\n    ")
}

func itemLabel(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "None"
	case map[string]any, []any:
		return compactJSON(x)
	}
	return fmt.Sprint(v)
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// diffs prints unified diffs of file changes under the result line.
func (o *textOutput) diffs(e engine.Event) {
	for _, d := range e.Diffs {
		if d.Secret {
			fmt.Fprintf(o.w, "%s\n", o.paint(cYellow, fmt.Sprintf("--- %s: content hidden, file changes", d.Path)))
			continue
		}
		o.w.Write([]byte(o.colorDiff(unifiedDiff(d))))
	}
}

func unifiedDiff(d engine.Diff) string {
	ud := difflib.UnifiedDiff{
		A:        diffLines(d.Before),
		B:        diffLines(d.After),
		FromFile: "before: " + d.Path,
		ToFile:   "after: " + d.Path,
		Context:  3,
	}
	s, err := difflib.GetUnifiedDiffString(ud)
	if err != nil {
		return fmt.Sprintf("diff of %s: %v\n", d.Path, err)
	}
	if s == "" {
		return ""
	}
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// diffLines splits text into lines that keep their newline; a last line
// without one gets one, so the diff does not show a phantom empty line.
func diffLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "\n"
	}
	return lines
}

func (o *textOutput) colorDiff(s string) string {
	if !o.color {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			b.WriteString(l)
		case strings.HasPrefix(l, "+"):
			b.WriteString(cGreen + strings.TrimSuffix(l, "\n") + cReset + "\n")
		case strings.HasPrefix(l, "-"):
			b.WriteString(cRed + strings.TrimSuffix(l, "\n") + cReset + "\n")
		case strings.HasPrefix(l, "@@"):
			b.WriteString(cCyan + strings.TrimSuffix(l, "\n") + cReset + "\n")
		default:
			b.WriteString(l)
		}
	}
	return b.String()
}

func (o *textOutput) recap(e engine.Event) {
	fmt.Fprintf(o.w, "\n%s\n", banner("PLAY RECAP"))
	stats := append([]engine.HostStats(nil), e.Recap...)
	sort.Slice(stats, func(i, j int) bool { return stats[i].Host < stats[j].Host })
	for _, s := range stats {
		col := cGreen
		switch {
		case s.Failed > 0 || s.Unreachable > 0:
			col = cRed
		case s.Changed > 0:
			col = cYellow
		}
		name := o.paint(col, fmt.Sprintf("%-26s", s.Host))
		num := func(label string, n int, c string) string {
			f := fmt.Sprintf("%s=%-4d", label, n)
			if n == 0 {
				return f
			}
			return o.paint(c, f)
		}
		fmt.Fprintf(o.w, "%s : %s %s %s %s %s %s %s\n", name,
			num("ok", s.OK, cGreen), num("changed", s.Changed, cYellow),
			num("unreachable", s.Unreachable, cRed), num("failed", s.Failed, cRed),
			num("skipped", s.Skipped, cCyan), num("rescued", s.Rescued, cGreen),
			num("ignored", s.Ignored, cPurple))
	}
	fmt.Fprintf(o.w, "\nelapsed: %.2fs\n", e.Elapsed)
}

// jsonOutput prints one event per line, for CI.
type jsonOutput struct {
	w io.Writer
}

func (o *jsonOutput) Event(e engine.Event) {
	b, err := json.Marshal(e)
	if err != nil {
		// A registered value that JSON cannot hold must not lose the event.
		e.Result = map[string]any{"unencodable": err.Error()}
		b, _ = json.Marshal(e)
	}
	o.w.Write(append(b, '\n'))
}
