//go:build lab

// These tests drive the real systemd of a lab host (make lab-up) over SSH.
// `make lab-test` runs them; on a machine without the lab they fail and say so.

package systemd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kplay/modules"
	"kplay/transport"
	"kplay/transport/ssh"
)

// The lab's first host, as inventory/ names it.
const (
	labHost = "kcm-1"
	labAddr = "198.18.0.11"
	// Units live in /usr/local/lib/systemd/system, not /etc/systemd/system:
	// systemctl mask writes its symlink in /etc and refuses when a real
	// unit file is there.
	unitDir = "/usr/local/lib/systemd/system"
)

func labSSHDir() string {
	if d := os.Getenv("KPLAY_CACHE"); d != "" {
		return filepath.Join(d, "lab", "ssh")
	}
	return "/var/cache/kplay/lab/ssh"
}

func dialLab(t *testing.T) transport.Conn {
	t.Helper()
	dir := labSSHDir()
	key := filepath.Join(dir, "id_ed25519")
	if _, err := os.Stat(key); err != nil {
		t.Fatalf("the lab is not set up (%v): run make lab-up", err)
	}
	d := ssh.NewDialer(ssh.Config{SSHConfigFile: "none", Agent: "none", ConnectTimeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := d.Dial(ctx, transport.HostSpec{
		Name: labHost, Address: labAddr, Port: 22, User: "root", KeyFile: key,
		Vars: map[string]any{ssh.VarKnownHosts: filepath.Join(dir, "known_hosts")},
	})
	if err != nil {
		t.Fatalf("cannot reach lab host %s (%v): is the lab up (make lab-up)?", labHost, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

type labRun struct {
	t    *testing.T
	conn transport.Conn
}

type result struct {
	changed, failed bool
	msg             string
	data            map[string]any
}

func (l labRun) task(raw map[string]any, check bool) result {
	l.t.Helper()
	args, errs := modules.Normalize(Module{}.Info(), raw)
	if len(errs) > 0 {
		l.t.Fatalf("Normalize: %v", errs)
	}
	if err := (Module{}).CheckArgs(args); err != nil {
		l.t.Fatalf("CheckArgs: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := Module{}.Plan(ctx, &modules.Call{Host: labHost, Conn: l.conn, Args: args, Check: check})
	if err != nil {
		l.t.Fatalf("Plan(%v): %v", raw, err)
	}
	if check || p.Apply == nil {
		return result{changed: p.Changed, failed: p.Failed, msg: p.Msg, data: p.Data}
	}
	r, err := p.Apply(ctx)
	if err != nil {
		l.t.Fatalf("Apply(%v): %v", raw, err)
	}
	return result{changed: r.Changed, failed: r.Failed, msg: r.Msg, data: r.Data}
}

// sh runs a command on the host for setup and for checking from outside the module.
func (l labRun) sh(cmd string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := l.conn.Run(ctx, transport.Command{Cmd: cmd})
	if err != nil || res.RC != 0 {
		l.t.Fatalf("%s: rc %d err %v: %s", cmd, res.RC, err, res.Stderr)
	}
	return strings.TrimSpace(string(res.Stdout))
}

func (l labRun) install(name, unit string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l.sh("mkdir -p " + unitDir)
	if err := l.conn.WriteFile(ctx, transport.File{Path: unitDir + "/" + name, Content: []byte(unit), Mode: 0o644}); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l.conn.Run(ctx, transport.Command{Cmd: "systemctl stop " + name + "; systemctl disable " + name + "; systemctl unmask " + name +
			"; rm -f " + unitDir + "/" + name + "; systemctl daemon-reload; systemctl reset-failed " + name + " 2>/dev/null; true"})
	})
}

const goodUnit = `[Unit]
Description=kplay systemd module test

[Service]
ExecStart=/bin/sleep infinity
ExecReload=/bin/true

[Install]
WantedBy=multi-user.target
`

func TestLabLifecycle(t *testing.T) {
	l := labRun{t: t, conn: dialLab(t)}
	const name = "kplay-test.service"
	l.install(name, goodUnit)
	show := func(p string) string { return l.sh("systemctl show -p " + p + " --value " + name) }

	steps := []struct {
		name    string
		args    map[string]any
		changed bool
		active  string
		ufs     string
	}{
		{"install: daemon_reload, enable, start", map[string]any{"name": "kplay-test", "daemon_reload": true, "enabled": true, "state": "started"}, true, "active", "enabled"},
		{"again: ok", map[string]any{"name": "kplay-test", "daemon_reload": true, "enabled": true, "state": "started"}, false, "active", "enabled"},
		{"restarted", map[string]any{"name": "kplay-test", "state": "restarted"}, true, "active", "enabled"},
		{"reloaded", map[string]any{"name": "kplay-test", "state": "reloaded"}, true, "active", "enabled"},
		{"stopped", map[string]any{"name": "kplay-test", "state": "stopped"}, true, "inactive", "enabled"},
		{"stopped again: ok", map[string]any{"name": "kplay-test", "state": "stopped"}, false, "inactive", "enabled"},
		{"disabled", map[string]any{"name": "kplay-test", "enabled": false}, true, "inactive", "disabled"},
		{"masked", map[string]any{"name": "kplay-test", "masked": true}, true, "inactive", "masked"},
		{"masked again: ok", map[string]any{"name": "kplay-test", "masked": true}, false, "inactive", "masked"},
		{"unmasked, enabled, started", map[string]any{"name": "kplay-test", "masked": false, "enabled": true, "state": "started"}, true, "active", "enabled"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			l.t = t
			beforeActive, beforeUFS, beforePID := show("ActiveState"), show("UnitFileState"), show("MainPID")
			// Check mode first: the same verdict, and nothing changes.
			c := l.task(s.args, true)
			if c.changed != s.changed {
				t.Errorf("check mode: changed=%v, want %v (%s)", c.changed, s.changed, c.msg)
			}
			if show("ActiveState") != beforeActive || show("UnitFileState") != beforeUFS || show("MainPID") != beforePID {
				t.Fatalf("check mode changed the unit: %s", c.msg)
			}
			r := l.task(s.args, false)
			if r.failed || r.changed != s.changed {
				t.Fatalf("changed=%v failed=%v msg=%s; want changed=%v", r.changed, r.failed, r.msg, s.changed)
			}
			if got := show("ActiveState"); got != s.active {
				t.Errorf("ActiveState %s, want %s", got, s.active)
			}
			if got := show("UnitFileState"); got != s.ufs {
				t.Errorf("UnitFileState %s, want %s", got, s.ufs)
			}
			if r.data["ActiveState"] != s.active || r.data["UnitFileState"] != s.ufs || r.data["LoadState"] == nil || r.data["SubState"] == nil || r.data["NeedDaemonReload"] != "no" {
				t.Errorf("registered %v", r.data)
			}
			if s.args["state"] == "restarted" && show("MainPID") == beforePID {
				t.Errorf("restart kept MainPID %s", beforePID)
			}
		})
	}
}

func TestLabDaemonReload(t *testing.T) {
	l := labRun{t: t, conn: dialLab(t)}
	const name = "kplay-reload-test.service"
	l.install(name, goodUnit)
	l.task(map[string]any{"name": name, "daemon_reload": true, "state": "started"}, false)
	// Change the unit file behind systemd's back: it now needs a reload.
	l.sh("sed -i 's/^Description=.*/Description=changed/' " + unitDir + "/" + name)
	if got := l.sh("systemctl show -p NeedDaemonReload --value " + name); got != "yes" {
		t.Fatalf("NeedDaemonReload %s after editing the unit", got)
	}
	c := l.task(map[string]any{"name": name, "daemon_reload": true, "state": "started"}, true)
	if !c.changed || l.sh("systemctl show -p NeedDaemonReload --value "+name) != "yes" {
		t.Fatalf("check mode: changed=%v, or it reloaded", c.changed)
	}
	r := l.task(map[string]any{"name": name, "daemon_reload": true, "state": "started"}, false)
	if !r.changed || r.data["NeedDaemonReload"] != "no" {
		t.Fatalf("changed=%v data=%v", r.changed, r.data)
	}
	if got := l.sh("systemctl show -p Description --value " + name); got != "changed" {
		t.Fatalf("Description %q after daemon_reload", got)
	}
	if r := l.task(map[string]any{"name": name, "daemon_reload": true, "state": "started"}, false); r.changed {
		t.Fatalf("second daemon_reload changed: %s", r.msg)
	}
}

func TestLabFailedStartShowsJournal(t *testing.T) {
	l := labRun{t: t, conn: dialLab(t)}
	for _, tc := range []struct{ name, service string }{
		// Type=simple: systemctl start succeeds, the process dies at once.
		{"kplay-fail-simple.service", "ExecStart=/bin/sh -c 'echo kplay-boom-simple >&2; exit 3'\nRestart=on-failure\nRestartSec=5\n"},
		// Type=oneshot: systemctl start itself fails.
		{"kplay-fail-oneshot.service", "Type=oneshot\nExecStart=/bin/sh -c 'echo kplay-boom-oneshot >&2; exit 4'\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.t = t
			l.install(tc.name, "[Service]\n"+tc.service)
			r := l.task(map[string]any{"name": tc.name, "daemon_reload": true, "state": "started", "settle": 3}, false)
			if !r.failed {
				t.Fatalf("a failing start passed: %s", r.msg)
			}
			t.Logf("the failure as users see it:\n%s", r.msg)
			want := strings.TrimPrefix(strings.TrimSuffix(tc.name, ".service"), "kplay-fail-")
			if !strings.Contains(r.msg, "journalctl -u "+tc.name) || !strings.Contains(r.msg, "kplay-boom-"+want) {
				t.Fatalf("the failure does not show the journal:\n%s", r.msg)
			}
			if j, _ := r.data["journal"].([]any); len(j) == 0 {
				t.Fatalf("journal not registered: %v", r.data)
			}
		})
	}
}

func TestLabMissingUnit(t *testing.T) {
	l := labRun{t: t, conn: dialLab(t)}
	args, _ := modules.Normalize(Module{}.Info(), map[string]any{"name": "kplay-no-such-unit", "state": "started"})
	_, err := Module{}.Plan(context.Background(), &modules.Call{Host: labHost, Conn: l.conn, Args: args})
	if err == nil || !strings.Contains(err.Error(), "kplay-no-such-unit.service not found") {
		t.Fatalf("Plan = %v, want a not-found error", err)
	}
}
