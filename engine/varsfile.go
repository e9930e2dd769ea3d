package engine

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// loadVarsFile reads a vars file: a YAML mapping of names to values. Strings
// holding {{ }} stay raw and are rendered when used.
func loadVarsFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}
