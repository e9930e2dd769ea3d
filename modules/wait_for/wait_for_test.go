package wait_for

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kplay/modules"
	"kplay/transport/local"
)

type outcome struct {
	changed, failed bool
	skipped, msg    string
	data            map[string]any
}

func run(t *testing.T, raw map[string]any, check bool, hosts ...modules.HostRef) outcome {
	t.Helper()
	args, errs := modules.Normalize(Module{}.Info(), raw)
	if len(errs) > 0 {
		t.Fatalf("Normalize: %v", errs)
	}
	if err := (Module{}).CheckArgs(args); err != nil {
		t.Fatalf("CheckArgs: %v", err)
	}
	conn := local.New("localhost")
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &modules.Call{Host: "kcm-1", Conn: conn, Local: conn, Args: args, Check: check, Hosts: hosts}
	p, err := Module{}.Plan(ctx, c)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if p.Changed {
		t.Fatal("wait_for planned a change")
	}
	if check {
		return outcome{skipped: p.SkipInCheck, msg: p.Msg, data: p.Data}
	}
	r, err := p.Apply(ctx)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return outcome{changed: r.Changed, failed: r.Failed, msg: r.Msg, data: r.Data}
}

// listen opens a loopback port; close it to make the port refuse.
func listen(t *testing.T) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-test_banner\r\n"))
			c.Close()
		}
	}()
	return l, l.Addr().(*net.TCPAddr).Port
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

func TestPort(t *testing.T) {
	_, open := listen(t)
	closed := closedPort(t)
	fast := func(kv ...any) map[string]any {
		m := map[string]any{"host": "127.0.0.1", "timeout": "2s", "sleep": "50ms", "connect_timeout": "1s"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		args map[string]any
		fail string
	}{
		{"open port started", fast("port", open), ""},
		{"open port present", fast("port", open, "state", "present"), ""},
		{"closed port stopped", fast("port", closed, "state", "stopped"), ""},
		{"closed port absent", fast("port", closed, "state", "absent"), ""},
		{"closed port started times out", fast("port", closed, "timeout", "300ms"), "timeout after 300ms waiting for 127.0.0.1:" + strconv.Itoa(closed) + " to accept connections (last: dial tcp"},
		{"open port stopped times out", fast("port", open, "state", "stopped", "timeout", "300ms"), "to refuse connections (last: a connection succeeded)"},
		{"banner matches", fast("port", open, "search_regex", `SSH-2\.0-(\w+)`), ""},
		{"banner does not match", fast("port", open, "search_regex", "^HTTP", "timeout", "300ms"), `the peer sent "SSH-2.0-test_banner\r\n" and closed`},
		{"custom msg", fast("port", closed, "timeout", "200ms", "msg", "KCM did not come up"), "KCM did not come up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, tc.args, false)
			if o.changed {
				t.Error("changed")
			}
			if tc.fail == "" && o.failed {
				t.Fatalf("failed: %s", o.msg)
			}
			if tc.fail != "" && (!o.failed || !strings.Contains(o.msg, tc.fail)) {
				t.Fatalf("failed=%v msg %q, want failure with %q", o.failed, o.msg, tc.fail)
			}
			if _, ok := o.data["elapsed"].(float64); !ok {
				t.Errorf("elapsed not registered: %v", o.data)
			}
		})
	}
	o := run(t, fast("port", open, "search_regex", `SSH-2\.0-(\w+)`), false)
	if g := o.data["match_groups"].([]any); len(g) != 1 || g[0] != "test_banner" {
		t.Errorf("match_groups %v", g)
	}
}

func TestPortOpensLater(t *testing.T) {
	port := closedPort(t)
	ready := make(chan net.Listener, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			ready <- nil
			return
		}
		ready <- l
	}()
	o := run(t, map[string]any{"host": "127.0.0.1", "port": port, "timeout": "20s", "sleep": "50ms"}, false)
	if l := <-ready; l != nil {
		l.Close()
	} else {
		t.Fatal("could not listen on the port again: another process took it meanwhile")
	}
	if o.failed {
		t.Fatalf("failed: %s", o.msg)
	}
}

func TestDefaultHostIsTheHostsAddress(t *testing.T) {
	_, open := listen(t)
	o := run(t, map[string]any{"port": open, "timeout": "2s"}, false,
		modules.HostRef{Name: "kcm-0", Address: "198.18.0.10"}, modules.HostRef{Name: "kcm-1", Address: "127.0.0.1"})
	if o.failed || o.data["host"] != "127.0.0.1" {
		t.Fatalf("failed=%v msg=%q data=%v", o.failed, o.msg, o.data)
	}
}

func TestPath(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "present")
	if err := os.WriteFile(present, []byte("leader elected: kcm-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		args map[string]any
		fail string
	}{
		{"present", map[string]any{"path": present}, ""},
		{"absent", map[string]any{"path": missing, "state": "absent"}, ""},
		{"regex", map[string]any{"path": present, "search_regex": `elected: (kcm-\d)`}, ""},
		{"missing times out", map[string]any{"path": missing, "timeout": "200ms", "sleep": "50ms"}, "to exist (last: it does not exist)"},
		{"present stays", map[string]any{"path": present, "state": "absent", "timeout": "200ms", "sleep": "50ms"}, "to be absent (last: it exists)"},
		{"regex no match", map[string]any{"path": present, "search_regex": "kcm-9", "timeout": "200ms", "sleep": "50ms"}, "its content does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, tc.args, false)
			if tc.fail == "" && o.failed {
				t.Fatalf("failed: %s", o.msg)
			}
			if tc.fail != "" && (!o.failed || !strings.Contains(o.msg, tc.fail)) {
				t.Fatalf("failed=%v msg %q, want failure with %q", o.failed, o.msg, tc.fail)
			}
		})
	}
	o := run(t, map[string]any{"path": present, "search_regex": `elected: (kcm-\d)`}, false)
	if g := o.data["match_groups"].([]any); len(g) != 1 || g[0] != "kcm-2" {
		t.Errorf("match_groups %v", g)
	}
}

func TestPathAppearsAndGoes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ready")
	go func() {
		time.Sleep(200 * time.Millisecond)
		os.WriteFile(p, []byte("ok"), 0o644)
	}()
	if o := run(t, map[string]any{"path": p, "timeout": "20s", "sleep": "50ms", "delay": "10ms"}, false); o.failed {
		t.Fatalf("appear: %s", o.msg)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		os.Remove(p)
	}()
	if o := run(t, map[string]any{"path": p, "state": "absent", "timeout": "20s", "sleep": "50ms"}, false); o.failed {
		t.Fatalf("go: %s", o.msg)
	}
}

func TestCheckModeProbesOnce(t *testing.T) {
	_, open := listen(t)
	closed := closedPort(t)
	for _, tc := range []struct {
		name string
		args map[string]any
		skip string
	}{
		{"already open", map[string]any{"host": "127.0.0.1", "port": open}, ""},
		{"closed", map[string]any{"host": "127.0.0.1", "port": closed}, "would wait up to 5m0s for 127.0.0.1:" + strconv.Itoa(closed) + " to accept connections (now: dial tcp"},
		{"missing file", map[string]any{"path": "/nonexistent/kplay", "timeout": 60}, "would wait up to 1m0s for /nonexistent/kplay to exist"},
		{"plain timeout", map[string]any{"timeout": 60}, "would wait 1m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, tc.args, true)
			if !strings.Contains(o.skipped, tc.skip) || (tc.skip == "") != (o.skipped == "") {
				t.Fatalf("skipped %q, want %q", o.skipped, tc.skip)
			}
		})
	}
}

func TestPlainTimeout(t *testing.T) {
	if o := run(t, map[string]any{"timeout": "100ms"}, false); o.failed {
		t.Fatalf("plain wait failed: %s", o.msg)
	}
}

func TestBadArgs(t *testing.T) {
	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"port": 22, "path": "/x"}, "exclude"},
		{map[string]any{"port": 70000}, "not a TCP port"},
		{map[string]any{"host": "a"}, "host needs port"},
		{map[string]any{"path": "/x", "state": "absent", "search_regex": "a"}, "needs state started"},
		{map[string]any{"search_regex": "a"}, "needs port or path"},
		{map[string]any{"path": "/x", "search_regex": "("}, "search_regex"},
		{map[string]any{"path": "/x", "timeout": 0}, "timeout must be positive"},
		{map[string]any{"path": "/x", "connect_from": "host"}, "connect_from: host needs port"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			args, errs := modules.Normalize(Module{}.Info(), tc.raw)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if err := (Module{}).CheckArgs(args); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckArgs = %v, want %q", err, tc.want)
			}
		})
	}
}
