// Package workload describes the benchmark's per-host workload once, for the
// driver, the floor program and the transport-level kplay runner: 20 shell
// tasks running `true`, a 64 KiB file copied, a two-variable template
// rendered, and a command printing the hostname.
package workload

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Shells is the number of `true` tasks per host.
const Shells = 20

// BlobSize is the size of the copied file.
const BlobSize = 64 << 10

// Template is the template's text, in the syntax kplay and Ansible share.
const Template = "host: {{ inventory_hostname }}\ngreeting: {{ greeting }}\n"

// Greeting is the play variable the template uses.
const Greeting = "hello from the benchmark"

// Host is one host to reach.
type Host struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
	Port int    `json:"port"`
}

// Spec is what a runner needs; the driver writes it as JSON.
type Spec struct {
	Hosts      []Host `json:"hosts"`
	User       string `json:"user"`
	KeyFile    string `json:"key_file"`
	KnownHosts string `json:"known_hosts"`
	Blob       string `json:"blob"`      // local file to copy
	DestRoot   string `json:"dest_root"` // each host writes under DestRoot/<name>/
}

// Render is the template rendered for host.
func Render(host string) string {
	return strings.NewReplacer("{{ inventory_hostname }}", host, "{{ greeting }}", Greeting).Replace(Template)
}

// BlobDest and TemplateDest are where a host's files land.
func BlobDest(root, host string) string     { return filepath.Join(root, host, "blob.bin") }
func TemplateDest(root, host string) string { return filepath.Join(root, host, "greeting.txt") }

// Load reads a Spec file.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}
