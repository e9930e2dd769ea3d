// Package wait_for is the wait_for module: wait for a TCP port to accept or
// refuse connections, or for a file to appear or go, as Ansible's wait_for.
package wait_for

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"regexp"
	"strconv"
	"time"

	"kplay/modules"
	"kplay/transport"
)

func init() { modules.Register(Module{}) }

// Module implements wait_for.
type Module struct{}

var (
	_ modules.Module      = Module{}
	_ modules.ArgsChecker = Module{}
)

// progressEvery spaces progress reports during a long wait.
const progressEvery = 10 * time.Second

// Info documents the module for `kplay doc`.
func (Module) Info() modules.Info {
	return modules.Info{
		Name:    "wait_for",
		Summary: "Wait for a TCP port to open or close, or for a file to appear or go",
		Doc: `Polls every sleep until the condition holds or timeout passes (then the task
fails), after waiting delay first.

With port, it connects to host:port: started (or present) waits until a
connection succeeds, stopped (or absent) until it is refused. With search_regex,
an open port must also send text matching it (a banner).

connect_from says where the connection starts. controller (the default): from
the control machine, and host defaults to the task host's address
(ansible_host). host: from the task's host, as Ansible's wait_for does, and host
defaults to 127.0.0.1, the host itself; over SSH the connection goes through
the host's sshd (a direct-tcpip channel, as ssh -L), so nothing is installed
there and sshd must allow TCP forwarding (OpenSSH's default).

With path, it checks the file on the task's host over its connection (on the
control machine with delegate_to: localhost): started or present waits until it
exists, and, with search_regex, until its content matches; stopped or absent
waits until it is gone.

With neither port nor path, it waits timeout and succeeds, as Ansible's does.
The task never reports changed.`,
		CheckMode: "checks once without waiting: ok if the condition already holds, else skipped with what it would wait for",
		Returns:   "elapsed (seconds); state; host and port, or path; match_groups (with search_regex)",
		Args: []modules.Arg{
			{Name: "host", Type: modules.String, Doc: "address to connect to; default the task host's ansible_host"},
			{Name: "port", Type: modules.Int, Doc: "TCP port"},
			{Name: "connect_from", Type: modules.String, Default: "controller", Choices: []string{"controller", "host"},
				Doc: "where a port check connects from: the control machine, or the task's host"},
			{Name: "path", Type: modules.String, Doc: "file on the host"},
			{Name: "state", Type: modules.String, Default: "started", Choices: []string{"started", "stopped", "present", "absent"},
				Doc: "started/present: open port or existing file; stopped/absent: refused port or missing file"},
			{Name: "search_regex", Type: modules.String, Doc: "regular expression (Go syntax) the file content or the port's banner must match"},
			{Name: "timeout", Type: modules.Duration, Default: 300, Doc: "give up (and fail) after this long"},
			{Name: "delay", Type: modules.Duration, Default: 0, Doc: "wait this long before the first check"},
			{Name: "sleep", Type: modules.Duration, Default: 1, Doc: "wait between checks"},
			{Name: "connect_timeout", Type: modules.Duration, Default: 5, Doc: "limit for one connection attempt"},
			{Name: "msg", Type: modules.String, Doc: "failure message instead of the default one"},
		},
	}
}

type settings struct {
	host           string
	fromHost       bool // connect_from: host
	port           int
	path           string
	up             bool // started/present, else stopped/absent
	state          string
	re             *regexp.Regexp
	timeout, delay time.Duration
	sleep, connect time.Duration
	msg            string
}

// CheckArgs refuses combinations that cannot mean anything.
func (Module) CheckArgs(a modules.Args) error {
	_, err := parse(a)
	return err
}

func parse(a modules.Args) (settings, error) {
	s := settings{
		host: a.Str("host"), port: a.Int("port"), path: a.Str("path"), state: a.Str("state"),
		timeout: a.Dur("timeout"), delay: a.Dur("delay"), sleep: a.Dur("sleep"), connect: a.Dur("connect_timeout"),
		msg: a.Str("msg"), fromHost: a.Str("connect_from") == "host",
	}
	s.up = s.state == "started" || s.state == "present"
	switch {
	case a.Has("port") && s.path != "":
		return s, errors.New("wait_for: port and path exclude each other")
	case a.Has("port") && (s.port < 1 || s.port > 65535):
		return s, fmt.Errorf("wait_for: port %d is not a TCP port", s.port)
	case s.host != "" && !a.Has("port"):
		return s, errors.New("wait_for: host needs port")
	case s.fromHost && !a.Has("port"):
		return s, errors.New("wait_for: connect_from: host needs port")
	case s.timeout <= 0:
		return s, errors.New("wait_for: timeout must be positive")
	case s.delay < 0 || s.sleep < 0 || s.connect <= 0:
		return s, errors.New("wait_for: delay and sleep must not be negative, connect_timeout must be positive")
	}
	if p := a.Str("search_regex"); p != "" {
		if !s.up {
			return s, fmt.Errorf("wait_for: search_regex needs state started or present, not %s", s.state)
		}
		if !a.Has("port") && s.path == "" {
			return s, errors.New("wait_for: search_regex needs port or path")
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return s, fmt.Errorf("wait_for: search_regex: %w", err)
		}
		s.re = re
	}
	return s, nil
}

// target says what is waited for, for messages.
func (s settings) target() string {
	switch {
	case s.port != 0 && s.up:
		return fmt.Sprintf("%s to accept connections", net.JoinHostPort(s.host, strconv.Itoa(s.port)))
	case s.port != 0:
		return fmt.Sprintf("%s to refuse connections", net.JoinHostPort(s.host, strconv.Itoa(s.port)))
	case s.path != "" && s.re != nil:
		return fmt.Sprintf("%s to match %q", s.path, s.re)
	case s.path != "" && s.up:
		return fmt.Sprintf("%s to exist", s.path)
	case s.path != "":
		return fmt.Sprintf("%s to be absent", s.path)
	}
	return "the timeout"
}

// hostAddress is the address the engine knows the task's host by.
func hostAddress(c *modules.Call) string {
	for _, h := range c.Hosts {
		if h.Name == c.Host && h.Address != "" {
			return h.Address
		}
	}
	if a, ok := c.Vars["ansible_host"].(string); ok && a != "" {
		return a
	}
	return c.Host
}

// Plan checks once in check mode; otherwise Apply waits.
func (Module) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	s, err := parse(c.Args)
	if err != nil {
		return nil, err
	}
	if s.port != 0 && s.host == "" {
		if s.fromHost {
			s.host = "127.0.0.1"
		} else {
			s.host = hostAddress(c)
		}
	}
	if (s.path != "" || s.fromHost) && c.Conn == nil {
		return nil, errors.New("wait_for: no connection to the host")
	}
	if s.fromHost {
		if _, ok := c.Conn.(transport.HostDialer); !ok {
			return nil, fmt.Errorf("wait_for: connect_from: host: the connection to %s cannot open TCP connections from the host", c.Host)
		}
	}
	data := s.data()
	if !c.Check {
		return &modules.Plan{Data: data, Apply: func(ctx context.Context) (*modules.Result, error) {
			return s.wait(ctx, c)
		}}, nil
	}
	if s.port == 0 && s.path == "" {
		return &modules.Plan{Data: data, SkipInCheck: fmt.Sprintf("would wait %s", s.timeout)}, nil
	}
	met, why, groups, err := s.probe(ctx, c.Conn)
	if err != nil {
		return nil, fmt.Errorf("wait_for %s: %w", s.target(), err)
	}
	if met {
		data["match_groups"] = groups
		data["elapsed"] = 0.0
		return &modules.Plan{Data: data, Msg: "already " + s.state}, nil
	}
	return &modules.Plan{Data: data, SkipInCheck: fmt.Sprintf("would wait up to %s for %s (now: %s)", s.timeout, s.target(), why)}, nil
}

func (s settings) data() map[string]any {
	d := map[string]any{"state": s.state}
	if s.port != 0 {
		d["host"], d["port"] = s.host, s.port
	}
	if s.path != "" {
		d["path"] = s.path
	}
	return d
}

func (s settings) wait(ctx context.Context, c *modules.Call) (*modules.Result, error) {
	start := time.Now()
	deadline := start.Add(s.timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	data := s.data()
	finish := func() { data["elapsed"] = time.Since(start).Round(time.Millisecond).Seconds() }
	if !sleepCtx(ctx, s.delay) && ctx.Err() != nil && time.Now().Before(deadline) {
		return nil, ctx.Err() // interrupted, not timed out
	}
	if s.port == 0 && s.path == "" {
		<-ctx.Done()
		finish()
		if time.Now().Before(deadline) {
			return nil, context.Cause(ctx)
		}
		return &modules.Result{Data: data, Msg: fmt.Sprintf("waited %s", s.timeout)}, nil
	}
	lastReport := start
	why := "not checked yet"
	for {
		met, w, groups, err := s.probe(ctx, c.Conn)
		if err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("wait_for %s: %w", s.target(), err)
		}
		if met {
			finish()
			data["match_groups"] = groups
			return &modules.Result{Data: data, Msg: fmt.Sprintf("%s after %s", s.state, time.Since(start).Round(time.Millisecond))}, nil
		}
		if w != "" {
			why = w
		}
		if time.Since(lastReport) >= progressEvery && c.Progress != nil {
			lastReport = time.Now()
			c.Progress(fmt.Sprintf("waiting for %s: %s so far of %s (%s)", s.target(), time.Since(start).Round(time.Second), s.timeout, why))
		}
		if !sleepCtx(ctx, s.sleep) || ctx.Err() != nil {
			break
		}
	}
	finish()
	if time.Now().Before(deadline) && ctx.Err() != nil {
		return nil, fmt.Errorf("wait_for %s: %w", s.target(), ctx.Err())
	}
	msg := s.msg
	if msg == "" {
		msg = fmt.Sprintf("timeout after %s waiting for %s (last: %s)", s.timeout, s.target(), why)
	}
	return &modules.Result{Failed: true, Msg: msg, Data: data}, nil
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// probe checks the condition once. why says what it saw when not met; err
// is for failures that waiting cannot cure (a dead connection to the host).
func (s settings) probe(ctx context.Context, conn transport.Conn) (met bool, why string, groups []any, err error) {
	if s.port != 0 {
		return s.probePort(ctx, conn)
	}
	st, err := conn.Stat(ctx, s.path, transport.Options{})
	if err != nil {
		if ctx.Err() != nil {
			return false, "", nil, nil
		}
		return false, "", nil, err
	}
	if !s.up {
		if st.Exists {
			return false, "it exists", nil, nil
		}
		return true, "", nil, nil
	}
	if !st.Exists {
		return false, "it does not exist", nil, nil
	}
	if s.re == nil {
		return true, "", nil, nil
	}
	b, err := conn.ReadFile(ctx, s.path, transport.Options{})
	if errors.Is(err, fs.ErrNotExist) {
		return false, "it does not exist", nil, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, "", nil, nil
		}
		return false, "", nil, err
	}
	if m := s.re.FindSubmatch(b); m != nil {
		return true, "", submatches(m), nil
	}
	return false, "its content does not match", nil, nil
}

// probePort connects once. err is for what waiting cannot cure: the host
// gone, or its sshd refusing to connect anywhere on kplay's behalf.
func (s settings) probePort(ctx context.Context, hc transport.Conn) (bool, string, []any, error) {
	cctx, cancel := context.WithTimeout(ctx, s.connect)
	defer cancel()
	addr := net.JoinHostPort(s.host, strconv.Itoa(s.port))
	var conn net.Conn
	var err error
	if s.fromHost {
		conn, err = hc.(transport.HostDialer).DialHost(cctx, "tcp", addr)
		var ue *transport.UnreachableError
		if errors.Is(err, transport.ErrDialForbidden) || errors.As(err, &ue) {
			return false, "", nil, err
		}
	} else {
		var d net.Dialer
		conn, err = d.DialContext(cctx, "tcp", addr)
	}
	if err != nil {
		if ctx.Err() != nil {
			// The wait is over (timeout or cancel): this attempt says
			// nothing about the port.
			return false, "", nil, nil
		}
		if !s.up {
			return true, "", nil, nil
		}
		return false, err.Error(), nil, nil
	}
	defer conn.Close()
	if !s.up {
		return false, "a connection succeeded", nil, nil
	}
	if s.re == nil {
		return true, "", nil, nil
	}
	met, why, groups := readBanner(cctx, conn, s.re)
	return met, why, groups, nil
}

// readBanner reads what the peer sends until it matches re, the peer
// closes, or ctx's deadline.
func readBanner(cctx context.Context, conn net.Conn, re *regexp.Regexp) (bool, string, []any) {
	// Read the banner until it matches, the peer closes, or connect_timeout.
	// A channel through sshd has no read deadline: closing the connection
	// when the time is up ends a Read on either kind.
	stop := context.AfterFunc(cctx, func() { conn.Close() })
	defer stop()
	var buf []byte
	chunk := make([]byte, 4096)
	for len(buf) < 64<<10 {
		n, err := conn.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if m := re.FindSubmatch(buf); m != nil {
			return true, "", submatches(m)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, fmt.Sprintf("the peer sent %q and closed", trim(buf)), nil
			}
			return false, fmt.Sprintf("the peer sent %q, no match", trim(buf)), nil
		}
	}
	return false, "64 KiB read without a match", nil
}

func trim(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

func submatches(m [][]byte) []any {
	out := make([]any, 0, len(m)-1)
	for _, g := range m[1:] {
		out = append(out, string(g))
	}
	return out
}
