// Command kplay runs YAML playbooks over SSH against groups of hosts, the way
// ansible-playbook does.
//
//	kplay PLAYBOOK... [-i INVENTORY]... [--check] [--diff] [-l PATTERN] ...
//	kplay doc [MODULE... | --markdown]
//
// Exit codes follow ansible-playbook: 0 ok, 1 an error while running, 2 a
// host failed, 4 a host unreachable or bad input (a playbook, inventory or
// template error found before anything ran), 5 bad command-line options,
// 99 interrupted (Ctrl-C).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
	"gopkg.in/yaml.v3"

	"kplay/diag"
	"kplay/dsl"
	"kplay/engine"
	_ "kplay/modules/all"
	"kplay/transport"
	"kplay/transport/local"
	"kplay/transport/ssh"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, as ansible-playbook's.
const (
	exitOK          = 0
	exitError       = 1
	exitBadInput    = 4 // ansible's AnsibleParserError code
	exitBadOptions  = 5
	exitInterrupted = 99
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first Ctrl-C cancels the run cleanly; a second one, should
		// the cleanup hang, kills kplay the default way.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

type options struct {
	inventories listFlag
	extraVars   listFlag
	tags        listFlag
	skipTags    listFlag
	check       bool
	diff        bool
	limit       string
	forks       int
	startAt     string
	listHosts   bool
	listTasks   bool
	syntaxCheck bool
	user        string
	privateKey  string
	become      bool
	verbosity   int
	version     bool
	acceptNew   bool
	output      string
	playbooks   []string
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kplay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, n := range []string{"i", "inventory"} {
		fs.Var(&o.inventories, n, "inventory file or directory (repeatable)")
	}
	for _, n := range []string{"e", "extra-vars"} {
		fs.Var(&o.extraVars, n, "extra variables: k=v, JSON, or @file (repeatable)")
	}
	for _, n := range []string{"t", "tags"} {
		fs.Var(&o.tags, n, "only run tasks with these tags (comma-separated, repeatable)")
	}
	fs.Var(&o.skipTags, "skip-tags", "skip tasks with these tags (comma-separated, repeatable)")
	for _, n := range []string{"C", "check"} {
		fs.BoolVar(&o.check, n, false, "show what would change, change nothing")
	}
	for _, n := range []string{"D", "diff"} {
		fs.BoolVar(&o.diff, n, false, "show unified diffs of file changes")
	}
	for _, n := range []string{"l", "limit"} {
		fs.StringVar(&o.limit, n, "", "limit hosts to a pattern")
	}
	for _, n := range []string{"f", "forks"} {
		fs.IntVar(&o.forks, n, 5, "hosts worked on in parallel")
	}
	fs.StringVar(&o.startAt, "start-at-task", "", "start at the task with this name")
	fs.BoolVar(&o.listHosts, "list-hosts", false, "list the hosts each play would run on")
	fs.BoolVar(&o.listTasks, "list-tasks", false, "list the tasks each play would run")
	fs.BoolVar(&o.syntaxCheck, "syntax-check", false, "check the playbook and inventory, run nothing")
	for _, n := range []string{"u", "user"} {
		fs.StringVar(&o.user, n, "", "connect as this user (when the inventory sets none)")
	}
	for _, n := range []string{"private-key", "key-file"} {
		fs.StringVar(&o.privateKey, n, "", "SSH private key file")
	}
	for _, n := range []string{"b", "become"} {
		fs.BoolVar(&o.become, n, false, "run tasks with sudo")
	}
	// -v, -vv, -vvv count verbosity; each is a flag without a value.
	for n, add := range map[string]int{"v": 1, "vv": 2, "vvv": 3, "vvvv": 4} {
		fs.Var(countFlag{func() { o.verbosity += add }}, n, "verbose output (-v, -vv, -vvv)")
	}
	fs.BoolVar(&o.acceptNew, "accept-new-host-keys", false, "record the SSH host key of a host not yet in known_hosts (a changed key is still refused)")
	fs.BoolVar(&o.version, "version", false, "print the version")
	fs.StringVar(&o.output, "output", "text", "output format: text or json")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: kplay PLAYBOOK... [-i INVENTORY] [options]\n       kplay doc [MODULE... | --markdown]\n\noptions:\n")
		fs.PrintDefaults()
	}
	return fs
}

// countFlag is a flag without a value that counts its uses.
type countFlag struct{ f func() }

func (c countFlag) String() string   { return "" }
func (c countFlag) Set(string) error { c.f(); return nil }
func (c countFlag) IsBoolFlag() bool { return true }

// parseArgs parses flags anywhere among the playbook names, as
// ansible-playbook allows (`kplay site.yml -i inv --check`).
func parseArgs(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs2 := newFlagSet(o, stderr)
	rest := args
	for {
		if err := fs2.Parse(rest); err != nil {
			return nil, err
		}
		rest = fs2.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			o.playbooks = append(o.playbooks, rest[1:]...)
			break
		}
		o.playbooks = append(o.playbooks, rest[0])
		rest = rest[1:]
	}
	o.tags = splitCommas(o.tags)
	o.skipTags = splitCommas(o.skipTags)
	return o, nil
}

func splitCommas(l []string) []string {
	var out []string
	for _, s := range l {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "doc" {
		return runDoc(args[1:], stdout, stderr)
	}
	o, err := parseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadOptions
	}
	if o.version {
		fmt.Fprintf(stdout, "kplay %s\n", version)
		return exitOK
	}
	if len(o.playbooks) == 0 {
		fmt.Fprintln(stderr, "kplay: no playbook given (usage: kplay PLAYBOOK... [-i INVENTORY] [options])")
		return exitBadOptions
	}
	if o.output != "text" && o.output != "json" {
		fmt.Fprintf(stderr, "kplay: --output %q: want text or json\n", o.output)
		return exitBadOptions
	}
	if o.forks < 1 {
		fmt.Fprintf(stderr, "kplay: --forks %d: want at least 1\n", o.forks)
		return exitBadOptions
	}
	extra, err := parseExtraVars(o.extraVars)
	if err != nil {
		fmt.Fprintf(stderr, "kplay: %v\n", err)
		return exitBadOptions
	}

	// Everything static is checked before any host is touched, and every
	// problem is reported.
	dialer := engine.Dialers{
		"local": local.Dialer{},
		"ssh":   ssh.NewDialer(sshConfig(o)),
	}
	var ds, warns diag.Diagnostics
	rawInv, ids := loadInventory(o.inventories)
	ds = append(ds, ids...)
	var books []*dsl.Playbook
	invs := map[*dsl.Playbook]invAdapter{}
	for _, p := range o.playbooks {
		pb, pds := loadPlaybook(p)
		ds = append(ds, pds...)
		if pb == nil {
			continue
		}
		books = append(books, pb)
		if rawInv != nil {
			inv, vds := forPlaybook(rawInv, pb)
			ds = append(ds, vds...)
			invs[pb] = inv
			co := checkOptions(inv, extra, o.limit, dialer)
			ds = append(ds, engine.Check(pb, co)...)
			warns = append(warns, engine.HostVarWarnings(pb, co)...)
		}
	}
	// The first playbook's view answers questions about the inventory as a
	// whole (--limit); group_vars beside a playbook add no hosts.
	var inv engine.Inventory
	if len(books) > 0 {
		inv = invs[books[0]]
	} else if rawInv != nil {
		inv = invAdapter{rawInv}
	}
	warns.Sort()
	for i, w := range warns {
		if i == 0 || w != warns[i-1] {
			fmt.Fprintf(stderr, "[WARNING]: %s\n", w)
		}
	}
	if len(ds) > 0 {
		ds.Sort()
		for _, d := range ds {
			fmt.Fprintln(stderr, d.String())
		}
		fmt.Fprintf(stderr, "kplay: %d problem(s) found; nothing was run\n", len(ds))
		return exitBadInput
	}

	if len(o.inventories) == 0 {
		fmt.Fprintln(stderr, "[WARNING]: no inventory given (-i): only the implicit localhost is available")
	}
	if o.limit != "" && !strings.HasPrefix(o.limit, "localhost") {
		if hs, err := inv.Hosts(o.limit); err != nil || len(hs) == 0 {
			if err == nil {
				err = errors.New("matches no host of the inventory")
			}
			fmt.Fprintf(stderr, "kplay: --limit %q: %v\n", o.limit, err)
			return exitError
		}
	}
	if o.startAt != "" {
		if err := findTask(books, o.startAt); err != nil {
			fmt.Fprintf(stderr, "kplay: %v\n", err)
			return exitBadOptions
		}
	}

	if o.syntaxCheck || o.listHosts || o.listTasks {
		for _, pb := range books {
			fmt.Fprintf(stdout, "\nplaybook: %s\n", pb.Path)
			if o.listHosts || o.listTasks {
				if err := listPlays(stdout, pb, invs[pb], o); err != nil {
					fmt.Fprintf(stderr, "kplay: %v\n", err)
					return exitError
				}
			}
		}
		return exitOK
	}

	var out interface{ Event(engine.Event) }
	if o.output == "json" {
		out = &jsonOutput{w: stdout}
	} else {
		out = &textOutput{w: stdout, color: useColor(stdout), verbosity: o.verbosity}
	}
	code := exitOK
	for _, pb := range books {
		for _, w := range patternWarnings(invs[pb], pb) {
			fmt.Fprintf(stderr, "[WARNING]: %s\n", w)
		}
		res, err := engine.Run(ctx, engine.Options{
			Playbook:    pb,
			Inventory:   invs[pb],
			Dialer:      dialer,
			Limit:       o.limit,
			Forks:       o.forks,
			Check:       o.check,
			Diff:        o.diff,
			Tags:        o.tags,
			SkipTags:    o.skipTags,
			StartAtTask: o.startAt,
			ExtraVars:   extra,
			Become:      o.become,
			Verbosity:   o.verbosity,
			Events:      out.Event,
		})
		if err != nil {
			fmt.Fprintf(stderr, "kplay: %v\n", err)
			return exitError
		}
		if c := res.ExitCode(); c != exitOK {
			code = c
			if res.Interrupted {
				fmt.Fprintln(stderr, "kplay: interrupted")
				return exitInterrupted
			}
			// ansible-playbook stops at the first playbook with a failure.
			break
		}
	}
	return code
}

// findTask checks that --start-at-task names a task; ansible-playbook only
// says so after running nothing.
func findTask(books []*dsl.Playbook, name string) error {
	var names []string
	for _, pb := range books {
		for _, p := range pb.Plays {
			for _, t := range engine.ListTasks(p, nil, nil) {
				if t.Name == name {
					return nil
				}
				names = append(names, t.Name)
			}
		}
	}
	msg := fmt.Sprintf("--start-at-task %q: no task has this name", name)
	if s := diag.Suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return errors.New(msg)
}

// sshConfig: -u and --private-key apply where the inventory names no user
// or key.
func sshConfig(o *options) ssh.Config {
	c := ssh.Config{User: o.user, AcceptNewHostKeys: o.acceptNew}
	if o.privateKey != "" {
		c.KeyFiles = []string{o.privateKey}
	}
	return c
}

// useColor: colour on a terminal, unless NO_COLOR is set.
func useColor(w io.Writer) bool {
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// parseExtraVars reads -e values: k=v pairs (strings, as Ansible), a JSON or
// YAML mapping, or @file. Later ones win.
func parseExtraVars(list []string) (map[string]any, error) {
	out := map[string]any{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case strings.HasPrefix(s, "@"):
			b, err := os.ReadFile(s[1:])
			if err != nil {
				return nil, fmt.Errorf("-e %s: %w", s, err)
			}
			var m map[string]any
			if err := yaml.Unmarshal(b, &m); err != nil {
				return nil, fmt.Errorf("-e %s: %w", s, err)
			}
			for k, v := range m {
				out[k] = v
			}
		case strings.HasPrefix(s, "{"):
			var m map[string]any
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				if yerr := yaml.Unmarshal([]byte(s), &m); yerr != nil {
					return nil, fmt.Errorf("-e %s: %w", s, err)
				}
			}
			for k, v := range m {
				out[k] = normalizeJSON(v)
			}
		default:
			for _, kv := range splitKV(s) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, fmt.Errorf("-e %q: want key=value, JSON or @file", s)
				}
				out[k] = v
			}
		}
	}
	return out, nil
}

// normalizeJSON turns JSON numbers that are integers into int, as YAML
// would give them.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int(x)) {
			return int(x)
		}
	case []any:
		for i := range x {
			x[i] = normalizeJSON(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalizeJSON(x[k])
		}
	}
	return v
}

// splitKV splits "a=1 b='two words'" on spaces outside quotes.
func splitKV(s string) []string {
	var out []string
	var cur strings.Builder
	quote := rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '\'' || r == '"'):
			quote = r
		case quote == 0 && r == ' ':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// listPlays prints --list-hosts / --list-tasks in ansible-playbook's layout.
func listPlays(w io.Writer, pb *dsl.Playbook, inv engine.Inventory, o *options) error {
	for i, p := range pb.Plays {
		name := p.Name
		if name == "" {
			name = p.Hosts
		}
		fmt.Fprintf(w, "\n  play #%d (%s): %s\tTAGS: [%s]\n", i+1, p.Hosts, name, strings.Join(p.Tags, ", "))
		if o.listHosts {
			hosts, err := engine.PlayHosts(inv, p, o.limit)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "    pattern: ['%s']\n    hosts (%d):\n", p.Hosts, len(hosts))
			for _, h := range hosts {
				fmt.Fprintf(w, "      %s\n", h)
			}
		}
		if o.listTasks {
			fmt.Fprintf(w, "    tasks:\n")
			for _, t := range engine.ListTasks(p, o.tags, o.skipTags) {
				fmt.Fprintf(w, "      %s\tTAGS: [%s]\n", t.Name, strings.Join(t.Tags, ", "))
			}
		}
	}
	return nil
}

var _ transport.Dialer = engine.Dialers{}
