package template

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kplay/modules/internal/modtest"
)

// render is a stand-in for kplay's renderer (the dsl package's job): it
// replaces {{ name }} from a fixed table and fails on an unknown name, the
// way the real one refuses undefined variables.
func render(vars map[string]string) func(name string, text []byte) (string, error) {
	return func(name string, text []byte) (string, error) {
		out := string(text)
		for {
			i := strings.Index(out, "{{")
			if i < 0 {
				return out, nil
			}
			j := strings.Index(out[i:], "}}")
			if j < 0 {
				return "", fmt.Errorf("%s: unclosed {{", name)
			}
			key := strings.TrimSpace(out[i+2 : i+j])
			v, ok := vars[key]
			if !ok {
				return "", fmt.Errorf("%s:%d: undefined variable %q", name, strings.Count(out[:i], "\n")+1, key)
			}
			out = out[:i] + v + out[i+j+2:]
		}
	}
}

func TestTemplate(t *testing.T) {
	env := modtest.Env{Render: render(map[string]string{"port": "10257", "name": "kcm"}), Diff: true}
	tpl := func(r, name, text string) { modtest.WriteFile(t, filepath.Join(r, "templates", name), text, 0o644) }
	cases := []modtest.Case{
		{
			Name:  "renders and writes",
			Setup: func(t *testing.T, r string) { tpl(r, "kcm.conf.j2", "name={{ name }}\nport={{port}}\n") },
			Args: func(r string) map[string]any {
				return map[string]any{"src": "kcm.conf.j2", "dest": filepath.Join(r, "etc", "kcm.conf"), "mode": "0640"}
			},
			Env:         env,
			WantChanged: true,
			VerifyCheck: func(t *testing.T, r string, o modtest.Outcome) {
				if len(o.Diffs) != 1 || o.Diffs[0].After != "name=kcm\nport=10257\n" {
					t.Errorf("diffs %+v", o.Diffs)
				}
			},
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				p := filepath.Join(r, "etc", "kcm.conf")
				if modtest.Read(t, p) != "name=kcm\nport=10257\n" || modtest.Mode(t, p) != 0o640 {
					t.Error("content or mode wrong")
				}
			},
		},
		{
			Name: "template beside the playbook, dest a directory",
			Setup: func(t *testing.T, r string) {
				modtest.WriteFile(t, filepath.Join(r, "unit.service"), "[Service]\n", 0o644)
				os.Mkdir(filepath.Join(r, "sys"), 0o755)
			},
			Args: func(r string) map[string]any {
				return map[string]any{"src": "unit.service", "dest": filepath.Join(r, "sys") + "/"}
			},
			Env:         env,
			WantChanged: true,
			Verify: func(t *testing.T, r string, o modtest.Outcome) {
				if modtest.Read(t, filepath.Join(r, "sys", "unit.service")) != "[Service]\n" {
					t.Error("content")
				}
			},
		},
		{
			Name: "unchanged render is ok",
			Setup: func(t *testing.T, r string) {
				tpl(r, "a", "port={{ port }}")
				modtest.WriteFile(t, filepath.Join(r, "a.out"), "port=10257", 0o644)
			},
			Args: func(r string) map[string]any { return map[string]any{"src": "a", "dest": filepath.Join(r, "a.out")} },
			Env:  env,
		},
		{
			Name:    "render error names the template",
			Setup:   func(t *testing.T, r string) { tpl(r, "bad.j2", "ok\n{{ missing }}") },
			Args:    func(r string) map[string]any { return map[string]any{"src": "bad.j2", "dest": filepath.Join(r, "out")} },
			Env:     env,
			WantErr: `templates/bad.j2:2: undefined variable "missing"`,
		},
		{
			Name: "missing template",
			Args: func(r string) map[string]any {
				return map[string]any{"src": "nope.j2", "dest": filepath.Join(r, "out")}
			},
			Env:     env,
			WantErr: "not found",
		},
		{
			Name:    "missing dest",
			Args:    func(r string) map[string]any { return map[string]any{"src": "a"} },
			Env:     env,
			WantErr: `missing required argument "dest"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) { tc.Test(t, Template{}) })
	}
}

func TestNoRenderer(t *testing.T) {
	r := t.TempDir()
	modtest.WriteFile(t, filepath.Join(r, "templates", "a"), "x", 0o644)
	o := modtest.Run(t, Template{}, map[string]any{"src": "a", "dest": filepath.Join(r, "o")}, true, modtest.Env{Dir: r})
	if o.Err == nil || errors.Is(o.Err, os.ErrNotExist) {
		t.Fatalf("err %v, want a missing renderer error", o.Err)
	}
}
