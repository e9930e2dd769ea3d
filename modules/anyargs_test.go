package modules

import (
	"strings"
	"testing"
)

func TestNormalizeAnyArgs(t *testing.T) {
	info := Info{Name: "set_fact", AnyArgs: true, Args: []Arg{{Name: "cacheable", Type: Bool, Default: false}}}
	tests := []struct {
		name   string
		raw    map[string]any
		want   Args
		errHas string
	}{
		{name: "any name passes as is", raw: map[string]any{"x": []any{1}, "y": "s"}, want: Args{"x": []any{1}, "y": "s", "cacheable": false}},
		{name: "declared still typed", raw: map[string]any{"cacheable": "yes"}, want: Args{"cacheable": true}},
		{name: "declared type error", raw: map[string]any{"cacheable": []any{}}, errHas: `argument "cacheable"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := Normalize(info, tc.raw)
			if tc.errHas != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.errHas) {
					t.Fatalf("errs %v, want %q", errs, tc.errHas)
				}
				return
			}
			if len(errs) > 0 || len(got) != len(tc.want) {
				t.Fatalf("got %v %v, want %v", got, errs, tc.want)
			}
			for k, v := range tc.want {
				if _, isList := v.([]any); isList {
					continue
				}
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
	// Without AnyArgs an unknown name is still refused.
	info.AnyArgs = false
	if _, errs := Normalize(info, map[string]any{"x": 1}); len(errs) != 1 {
		t.Errorf("unknown argument accepted without AnyArgs")
	}
}
