package set_fact

import (
	"reflect"
	"strings"
	"testing"

	"kplay/modules/internal/modtest"
)

func TestSetFact(t *testing.T) {
	tests := []struct {
		name   string
		args   map[string]any
		facts  map[string]any
		errHas string
	}{
		{name: "values keep their types", args: map[string]any{"port": 10257, "masters": []any{"a", "b"}, "leader": "kcm-1"},
			facts: map[string]any{"port": 10257, "masters": []any{"a", "b"}, "leader": "kcm-1"}},
		{name: "cacheable is not a fact", args: map[string]any{"x": true, "cacheable": true}, facts: map[string]any{"x": true}},
		{name: "no facts", args: map[string]any{"cacheable": true}, errHas: "no facts"},
		{name: "bad name", args: map[string]any{"not-a-name": 1}, errHas: "not a valid variable name"},
		{name: "cacheable typed", args: map[string]any{"x": 1, "cacheable": []any{}}, errHas: `argument "cacheable"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, check := range []bool{true, false} {
				o := modtest.Run(t, SetFact{}, tc.args, check, modtest.Env{})
				if tc.errHas != "" {
					if o.Err == nil || !strings.Contains(o.Err.Error(), tc.errHas) {
						t.Fatalf("err %v, want %q", o.Err, tc.errHas)
					}
					continue
				}
				if o.Err != nil || o.Changed || o.Failed {
					t.Fatalf("err=%v changed=%v failed=%v", o.Err, o.Changed, o.Failed)
				}
				if !reflect.DeepEqual(o.Facts, tc.facts) {
					t.Errorf("check=%v: facts %v, want %v", check, o.Facts, tc.facts)
				}
			}
		})
	}
}
