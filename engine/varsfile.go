package engine

import "kplay/dsl"

// loadVarsFile reads a vars file: a YAML mapping of names to values. Strings
// holding {{ }} stay raw and are rendered when used.
func loadVarsFile(path string) (map[string]any, error) {
	m, ds := dsl.LoadVarsFile(path)
	if err := ds.Err(); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}
