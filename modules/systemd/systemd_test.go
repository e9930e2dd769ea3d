package systemd

import (
	"slices"
	"strings"
	"testing"

	"kplay/modules"
)

func TestCanonicalName(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"kube-controller-manager", "kube-controller-manager.service", ""},
		{"kube-controller-manager.service", "kube-controller-manager.service", ""},
		{"getty@tty1.service", "getty@tty1.service", ""},
		{"systemd-fsck@dev-disk-by\\x2duuid-1.service", "systemd-fsck@dev-disk-by\\x2duuid-1.service", ""},
		{"multi-user.target", "multi-user.target", ""},
		{"my.app", "my.app.service", ""},
		{"getty@.service", "", "template"},
		{"", "", "empty"},
		{"a b", "", "only letters"},
		{"x;reboot", "", "only letters"},
		{"$(reboot)", "", "only letters"},
		{"-H", "", "not starting with -"},
		{"a'b", "", "only letters"},
		{strings.Repeat("a", 256), "", "at most 255"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := CanonicalName(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("CanonicalName(%q) = %q, %v; want error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CanonicalName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseShow(t *testing.T) {
	out := "ActiveState=active\nSubState=running\nUnitFileState=enabled\nLoadState=loaded\nNeedDaemonReload=no\nDescription=A=B\n"
	p, err := ParseShow(out)
	if err != nil {
		t.Fatal(err)
	}
	if p["ActiveState"] != "active" || p["Description"] != "A=B" || len(p) != 6 {
		t.Fatalf("%v", p)
	}
	if _, err := ParseShow("Failed to connect to bus\n"); err == nil {
		t.Fatal("accepted a line without =")
	}
}

func FuzzParseShow(f *testing.F) {
	f.Add("ActiveState=active\nSubState=running\n")
	f.Add("=x\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseShow(s)
		if err != nil {
			return
		}
		for k := range p {
			if k == "" || strings.Contains(k, "=") || strings.Contains(k, "\n") {
				t.Fatalf("bad key %q", k)
			}
		}
	})
}

func props(active, sub, ufs, load string) map[string]string {
	return map[string]string{"ActiveState": active, "SubState": sub, "UnitFileState": ufs, "LoadState": load}
}

func TestActions(t *testing.T) {
	yes, no := true, false
	running := props("active", "running", "enabled", "loaded")
	stopped := props("inactive", "dead", "disabled", "loaded")
	failed := props("failed", "failed", "enabled", "loaded")
	restarting := props("activating", "auto-restart", "enabled", "loaded")
	masked := props("inactive", "dead", "masked", "masked")
	static := props("inactive", "dead", "static", "loaded")
	for _, tc := range []struct {
		name  string
		props map[string]string
		want  Want
		acts  []string
	}{
		{"started when running", running, Want{State: "started"}, nil},
		{"started when stopped", stopped, Want{State: "started"}, []string{"start"}},
		{"started when failed", failed, Want{State: "started"}, []string{"start"}},
		{"started when restarting after failure", restarting, Want{State: "started"}, []string{"start"}},
		{"stopped when running", running, Want{State: "stopped"}, []string{"stop"}},
		{"stopped when failed", failed, Want{State: "stopped"}, nil},
		{"restarted always", running, Want{State: "restarted"}, []string{"restart"}},
		{"reloaded running", running, Want{State: "reloaded"}, []string{"reload"}},
		{"reloaded stopped starts", stopped, Want{State: "reloaded"}, []string{"start"}},
		{"enable disabled", stopped, Want{Enabled: &yes}, []string{"enable"}},
		{"enable enabled", running, Want{Enabled: &yes}, nil},
		{"enable static", static, Want{Enabled: &yes}, nil},
		{"disable static", static, Want{Enabled: &no}, nil},
		{"disable enabled", running, Want{Enabled: &no}, []string{"disable"}},
		{"mask", stopped, Want{Masked: &yes}, []string{"mask"}},
		{"mask masked", masked, Want{Masked: &yes}, nil},
		{"unmask then enable then start", masked, Want{Masked: &no, Enabled: &yes, State: "started"}, []string{"unmask", "enable", "start"}},
		{"all at once", stopped, Want{Enabled: &yes, State: "started"}, []string{"enable", "start"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Actions(tc.props, tc.want); !slices.Equal(got, tc.acts) {
				t.Fatalf("Actions = %v, want %v", got, tc.acts)
			}
		})
	}
}

func TestCheckArgs(t *testing.T) {
	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"state": "started"}, "need name"},
		{map[string]any{}, "give name"},
		{map[string]any{"name": "x"}, "name alone does nothing"},
		{map[string]any{"name": "x;reboot", "state": "started"}, "only letters"},
		{map[string]any{"name": "x", "masked": true, "enabled": true}, "cannot be enabled"},
		{map[string]any{"name": "x", "masked": true, "state": "started"}, "cannot be started"},
		{map[string]any{"name": "x", "state": "started"}, ""},
		{map[string]any{"daemon_reload": true}, ""},
		{map[string]any{"daemon-reload": "yes", "unit": "kcm"}, ""},
	} {
		t.Run(tc.want, func(t *testing.T) {
			args, errs := modules.Normalize(Module{}.Info(), tc.raw)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			err := Module{}.CheckArgs(args)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("CheckArgs(%v) = %v, want %q", tc.raw, err, tc.want)
			}
		})
	}
}

func TestInfoDocumentsEveryArg(t *testing.T) {
	info := Module{}.Info()
	if info.Summary == "" || info.Doc == "" || info.CheckMode == "" || info.Returns == "" {
		t.Fatalf("incomplete Info: %+v", info)
	}
	for _, a := range info.Args {
		if a.Doc == "" || a.Type == "" {
			t.Errorf("argument %q lacks a type or doc", a.Name)
		}
	}
	if _, ok := modules.Lookup("ansible.builtin.systemd"); !ok {
		t.Fatal("not registered")
	}
}
