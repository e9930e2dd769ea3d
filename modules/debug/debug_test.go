package debug

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"kplay/modules/internal/modtest"
)

// eval stands in for the engine's expression evaluator: known expressions
// give fixed values, anything else is undefined, as in kplay.
func eval(expr string) (any, error) {
	switch expr {
	case "r.stdout_lines":
		return []any{"a", "b"}, nil
	case "port":
		return 10257, nil
	}
	return nil, fmt.Errorf("undefined variable %q", expr)
}

func TestDebug(t *testing.T) {
	tests := []struct {
		name      string
		args      map[string]any
		verbosity int
		msg       string
		data      map[string]any
		skipped   bool
		errHas    string
	}{
		{name: "default", args: map[string]any{}, msg: "Hello world!", data: map[string]any{"msg": "Hello world!"}},
		{name: "msg", args: map[string]any{"msg": "port is 10257"}, msg: "port is 10257", data: map[string]any{"msg": "port is 10257"}},
		{name: "msg list", args: map[string]any{"msg": []any{"x", 1}}, msg: "[\n    \"x\",\n    1\n]", data: map[string]any{"msg": []any{"x", 1}}},
		{name: "var", args: map[string]any{"var": "r.stdout_lines"}, msg: "r.stdout_lines: [\n    \"a\",\n    \"b\"\n]", data: map[string]any{"r.stdout_lines": []any{"a", "b"}}},
		{name: "var undefined", args: map[string]any{"var": "nope"}, errHas: `undefined variable "nope"`},
		{name: "msg and var", args: map[string]any{"var": "port", "msg": "x"}, errHas: "mutually exclusive"},
		{name: "verbosity not met", args: map[string]any{"msg": "x", "verbosity": 2}, verbosity: 1, skipped: true},
		{name: "verbosity met", args: map[string]any{"var": "port", "verbosity": "2"}, verbosity: 2, msg: "port: 10257", data: map[string]any{"port": 10257}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, check := range []bool{true, false} {
				o := modtest.Run(t, Debug{}, tc.args, check, modtest.Env{Eval: eval, Verbosity: tc.verbosity})
				if tc.errHas != "" {
					if o.Err == nil || !strings.Contains(o.Err.Error(), tc.errHas) {
						t.Fatalf("err %v, want %q", o.Err, tc.errHas)
					}
					continue
				}
				if o.Err != nil {
					t.Fatal(o.Err)
				}
				if tc.skipped {
					if o.Skipped == "" {
						t.Errorf("not skipped")
					}
					continue
				}
				if o.Changed || o.Failed || o.Msg != tc.msg || !reflect.DeepEqual(o.Data, tc.data) {
					t.Errorf("check=%v: changed=%v failed=%v msg=%q data=%v\nwant msg=%q data=%v", check, o.Changed, o.Failed, o.Msg, o.Data, tc.msg, tc.data)
				}
			}
		})
	}
}
