// Package runcmd is what the shell and command modules share: creates and
// removes, chdir, stdin, running the command and registering rc, stdout,
// stderr and timing as Ansible does.
package runcmd

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"kplay/modules"
	"kplay/transport"
	"kplay/transport/shquote"
)

// Spec is one command to run.
type Spec struct {
	Module string // "shell" or "command", for messages
	Cmd    string // given to the host's sh -c
	// Reg is registered as the result's cmd: the string for shell, the argv
	// list for command, as Ansible does.
	Reg     any
	Chdir   string
	Creates string
	Removes string
	Stdin   []byte // nil: no input
}

// Args are the arguments shell and command share, documented once.
var Args = []modules.Arg{
	{Name: "chdir", Type: modules.String, Doc: "Run in this directory on the host (it must exist)."},
	{Name: "creates", Type: modules.String, Doc: "Do not run when this path exists (glob * and ? allowed; relative to chdir)."},
	{Name: "removes", Type: modules.String, Doc: "Run only when this path exists (glob * and ? allowed; relative to chdir)."},
	{Name: "stdin", Type: modules.String, Doc: "Text fed to the command's standard input."},
	{Name: "stdin_add_newline", Type: modules.Bool, Default: true, Doc: "Append a newline to stdin."},
}

// Returns documents the registered result.
const Returns = "rc, stdout, stderr, stdout_lines, stderr_lines, cmd, start, end, delta (as Ansible: stdout and stderr without their trailing newlines)."

// StdinOf returns the stdin argument as bytes, nil when absent.
func StdinOf(a modules.Args) []byte {
	if !a.Has("stdin") {
		return nil
	}
	s := a.Str("stdin")
	if a.Bool("stdin_add_newline") {
		s += "\n"
	}
	return []byte(s)
}

// Plan decides whether the command runs (creates, removes) and returns the
// plan whose Apply runs it.
func Plan(ctx context.Context, c *modules.Call, s Spec) (*modules.Plan, error) {
	if s.Chdir != "" {
		fi, err := c.Conn.Stat(ctx, s.Chdir, c.Opts)
		if err != nil {
			return nil, fmt.Errorf("%s: chdir: %w", s.Module, err)
		}
		if !fi.IsDir {
			return &modules.Plan{Failed: true, Msg: fmt.Sprintf("chdir %s is not a directory on the host", s.Chdir),
				Data: map[string]any{"cmd": s.Reg, "rc": 1}}, nil
		}
	}
	if s.Creates != "" {
		p := relTo(s.Chdir, s.Creates)
		ok, err := exists(ctx, c, p)
		if err != nil {
			return nil, fmt.Errorf("%s: creates: %w", s.Module, err)
		}
		if ok {
			return notRun(s, fmt.Sprintf("skipped, since %s exists", p)), nil
		}
	}
	if s.Removes != "" {
		p := relTo(s.Chdir, s.Removes)
		ok, err := exists(ctx, c, p)
		if err != nil {
			return nil, fmt.Errorf("%s: removes: %w", s.Module, err)
		}
		if !ok {
			return notRun(s, fmt.Sprintf("skipped, since %s does not exist", p)), nil
		}
	}
	// No Msg: it would outlive the run in the registered result (the
	// engine keeps the plan's message when Apply has none); cmd says it.
	p := &modules.Plan{
		Changed: true,
		Data:    map[string]any{"cmd": s.Reg},
	}
	if s.Creates == "" && s.Removes == "" {
		p.SkipInCheck = s.Module + " cannot know what the command would do without running it (creates or removes lets check mode decide)"
	}
	p.Apply = func(ctx context.Context) (*modules.Result, error) { return run(ctx, c, s) }
	return p, nil
}

// notRun is the result Ansible registers when creates or removes stop the
// command: ok, rc 0, the reason as stdout.
func notRun(s Spec, why string) *modules.Plan {
	return &modules.Plan{Msg: why, Data: map[string]any{
		"cmd": s.Reg, "rc": 0, "stdout": why, "stdout_lines": []any{why},
		"stderr": "", "stderr_lines": []any{},
	}}
}

func relTo(dir, p string) string {
	if dir == "" || path.IsAbs(p) {
		return p
	}
	return path.Join(dir, p)
}

// exists reports whether p exists on the host; * and ? glob, everything else
// is literal (the rest of the pattern is quoted, so nothing in it runs).
func exists(ctx context.Context, c *modules.Call, p string) (bool, error) {
	if !strings.ContainsAny(p, "*?") {
		fi, err := c.Conn.Stat(ctx, p, c.Opts)
		return fi.Exists, err
	}
	script := fmt.Sprintf(`for f in %s; do [ -e "$f" ] && exit 0; done; exit 1`, globWord(p))
	res, err := c.Conn.Run(ctx, transport.Command{Cmd: script, Options: c.Opts})
	if err != nil {
		return false, err
	}
	return res.RC == 0, nil
}

// globWord quotes p for sh leaving only * and ? active.
func globWord(p string) string {
	if strings.HasPrefix(p, "-") {
		p = "./" + p // not an option to anything
	}
	var b strings.Builder
	lit := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '*' || p[i] == '?' {
			if i > lit {
				b.WriteString(shquote.Quote(p[lit:i]))
			}
			b.WriteByte(p[i])
			lit = i + 1
		}
	}
	if lit < len(p) {
		b.WriteString(shquote.Quote(p[lit:]))
	}
	return b.String()
}

// maxMsgStderr bounds the stderr quoted in a failure message; the whole of
// it is registered.
const maxMsgStderr = 4 << 10

func run(ctx context.Context, c *modules.Call, s Spec) (*modules.Result, error) {
	start := time.Now()
	res, err := c.Conn.Run(ctx, transport.Command{
		Cmd: s.Cmd, Dir: s.Chdir, Env: c.Env, Stdin: s.Stdin, Options: c.Opts,
	})
	end := time.Now()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Module, err)
	}
	stdout := strings.TrimRight(string(res.Stdout), "\r\n")
	stderr := strings.TrimRight(string(res.Stderr), "\r\n")
	data := map[string]any{
		"cmd":          s.Reg,
		"rc":           res.RC,
		"stdout":       stdout,
		"stderr":       stderr,
		"stdout_lines": lines(stdout),
		"stderr_lines": lines(stderr),
		"start":        stamp(start),
		"end":          stamp(end),
		"delta":        delta(end.Sub(start)),
	}
	r := &modules.Result{Changed: true, Data: data}
	if res.RC != 0 {
		r.Failed = true
		msg := stderr
		if len(msg) > maxMsgStderr {
			msg = "..." + msg[len(msg)-maxMsgStderr:]
		}
		if msg == "" {
			msg = "(no stderr)"
		}
		r.Msg = fmt.Sprintf("%s failed: rc %d: %s", s.Module, res.RC, msg)
		data["msg"] = "non-zero return code"
	}
	return r, nil
}

func lines(s string) []any {
	out := []any{}
	if s == "" {
		return out
	}
	for _, l := range strings.Split(s, "\n") {
		out = append(out, strings.TrimSuffix(l, "\r"))
	}
	return out
}

// stamp and delta format times as Ansible registers them.
func stamp(t time.Time) string { return t.Format("2006-01-02 15:04:05.000000") }

func delta(d time.Duration) string {
	us := d.Microseconds()
	return fmt.Sprintf("%d:%02d:%02d.%06d", us/3_600_000_000, us/60_000_000%60, us/1_000_000%60, us%1_000_000)
}
