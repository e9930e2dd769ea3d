package assert

import (
	"fmt"
	"strings"
	"testing"

	"kplay/modules/internal/modtest"
)

func eval(expr string) (any, error) {
	switch expr {
	case "true", "r.rc == 0", "'active' in r.stdout":
		return true, nil
	case "false", "r.rc == 1":
		return false, nil
	case "r.stdout":
		return "active", nil
	}
	return nil, fmt.Errorf("undefined variable in %q", expr)
}

func TestAssert(t *testing.T) {
	tests := []struct {
		name   string
		args   map[string]any
		failed bool
		msgHas string
		errHas string
	}{
		{name: "one string", args: map[string]any{"that": "r.rc == 0"}, msgHas: "All assertions passed"},
		{name: "list all hold", args: map[string]any{"that": []any{"r.rc == 0", "'active' in r.stdout"}, "success_msg": "fine"}, msgHas: "fine"},
		{name: "second fails", args: map[string]any{"that": []any{"r.rc == 0", "r.rc == 1"}}, failed: true, msgHas: "Assertion failed: r.rc == 1"},
		{name: "fail_msg", args: map[string]any{"that": "false", "fail_msg": "kcm is not leader"}, failed: true, msgHas: "kcm is not leader"},
		{name: "msg alias", args: map[string]any{"that": "false", "msg": "old spelling"}, failed: true, msgHas: "old spelling"},
		{name: "quiet", args: map[string]any{"that": "true", "quiet": true}, msgHas: "All assertions passed"},
		{name: "yaml bool", args: map[string]any{"that": []any{true}}, msgHas: "passed"},
		{name: "not a bool", args: map[string]any{"that": "r.stdout"}, errHas: "want true or false"},
		{name: "undefined", args: map[string]any{"that": "x.y"}, errHas: "undefined"},
		{name: "empty list", args: map[string]any{"that": []any{}}, errHas: "empty"},
		{name: "missing that", args: map[string]any{}, errHas: `missing required argument "that"`},
		{name: "map that", args: map[string]any{"that": map[string]any{"a": 1}}, errHas: "want an expression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, check := range []bool{true, false} {
				o := modtest.Run(t, Assert{}, tc.args, check, modtest.Env{Eval: eval})
				if tc.errHas != "" {
					if o.Err == nil || !strings.Contains(o.Err.Error(), tc.errHas) {
						t.Fatalf("err %v, want %q", o.Err, tc.errHas)
					}
					continue
				}
				if o.Err != nil {
					t.Fatal(o.Err)
				}
				if o.Changed || o.Failed != tc.failed || !strings.Contains(o.Msg, tc.msgHas) {
					t.Errorf("check=%v: changed=%v failed=%v msg=%q, want failed=%v msg with %q", check, o.Changed, o.Failed, o.Msg, tc.failed, tc.msgHas)
				}
			}
		})
	}
}
