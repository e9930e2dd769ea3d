package engine

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"kplay/transport"
)

// hostState is what the run knows about one host: its connection, the facts
// and results it has gathered, whether it still takes part, its recap line.
type hostState struct {
	name    string
	invVars map[string]any
	conn    *connSlot

	mu       sync.Mutex
	facts    map[string]any  // registered results, set_fact, gathered facts
	notified map[string]bool // handler names and listen topics
	stats    HostStats

	// failed: a task failed on the host in this play; it does no more tasks.
	failed bool
	// dead: the host failed in an earlier play; later plays leave it out,
	// as ansible-playbook does.
	dead bool
	// unreachable: the connection failed; the host is out for the run.
	unreachable bool
}

func newHostState(name string, inv map[string]any) *hostState {
	if inv == nil {
		inv = map[string]any{}
	}
	return &hostState{name: name, invVars: inv, facts: map[string]any{}, notified: map[string]bool{}}
}

func (h *hostState) active() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.failed && !h.unreachable && !h.dead
}

// activeHosts are those of hosts still taking tasks.
func activeHosts(hosts []*hostState) []*hostState {
	var active []*hostState
	for _, h := range hosts {
		if h.active() {
			active = append(active, h)
		}
	}
	return active
}

func (h *hostState) setFacts(f map[string]any) {
	if len(f) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, v := range f {
		h.facts[k] = v
	}
}

func (h *hostState) factsCopy() map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]any, len(h.facts))
	for k, v := range h.facts {
		out[k] = v
	}
	return out
}

func (h *hostState) notify(names []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range names {
		h.notified[n] = true
	}
}

// wasNotified reports whether any of names was notified.
func (h *hostState) wasNotified(names []string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range names {
		if h.notified[n] {
			return true
		}
	}
	return false
}

// clearNotified forgets notifications once the handlers have run.
func (h *hostState) clearNotified() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.notified)
}

// isLocalName says whether a host name means the control machine.
func isLocalName(name string) bool {
	return name == "localhost" || name == "127.0.0.1" || name == "::1"
}

// hostSpec builds how to reach a host from its variables; get reads a
// variable with its templates rendered. Port stays 0 and User and KeyFile
// empty when the inventory says nothing, so the ssh transport can apply
// ~/.ssh/config and the command line's -u and --private-key in order.
func hostSpec(name string, get func(string) (any, bool)) (transport.HostSpec, error) {
	s := transport.HostSpec{Name: name, Address: name, Vars: map[string]any{}}
	str := func(k string) string {
		v, ok := get(k)
		if !ok || v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	s.Connection = connectionName(name, str("ansible_connection"))
	if a := str("ansible_host"); a != "" {
		s.Address = a
	} else if a := str("ansible_ssh_host"); a != "" {
		s.Address = a
	}
	portVar := "ansible_port"
	if str(portVar) == "" {
		portVar = "ansible_ssh_port"
	}
	if p := str(portVar); p != "" {
		n, err := parsePort(portVar, p)
		if err != nil {
			return s, err
		}
		s.Port = n
	}
	s.User = firstNonEmpty(str("ansible_user"), str("ansible_ssh_user"))
	s.KeyFile = firstNonEmpty(str("ansible_ssh_private_key_file"), str("ansible_private_key_file"))
	return s, nil
}

// connectionName is the transport a host's ansible_connection (c, rendered)
// asks for: local for localhost by default, ssh for Ansible's ssh-like ones.
func connectionName(host, c string) string {
	if c == "" && isLocalName(host) {
		c = "local"
	}
	switch c {
	case "", "ssh", "paramiko", "smart":
		c = "ssh"
	}
	return c
}

// parsePort reads ansible_port or ansible_ssh_port (name), rendered (p).
func parsePort(name, p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		return 0, fmt.Errorf("%s %q is not a port number (1-65535)", name, p)
	}
	return n, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// truthy reads an inventory flag the way Ansible does ("yes", "true", 1).
func truthy(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int:
		return x != 0, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "yes", "true", "on", "1", "y":
			return true, true
		case "no", "false", "off", "0", "n", "":
			return false, true
		}
	}
	return false, false
}
