package engine

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"kplay/transport"
)

// factsScript gathers kplay's small set of facts in one command, so facts
// cost one round trip per host. Sections are separated by a marker line.
const factsScript = `hostname 2>/dev/null || uname -n
echo '--kplay--'
uname -s; uname -r; uname -m
echo '--kplay--'
cat /etc/os-release 2>/dev/null
echo '--kplay--'
ip -o addr show 2>/dev/null || true
echo '--kplay--'
hostname -f 2>/dev/null || true`

// gatherFacts runs the facts script on every host of the batch; a host
// that cannot be reached is unreachable here already.
func (r *runner) gatherFacts(ctx context.Context, ps *playState, hosts []*hostState) {
	active := activeHosts(hosts)
	if len(active) == 0 {
		return
	}
	const name = "Gathering Facts"
	pos := ps.play.Pos.String()
	r.emit(Event{Type: EvTaskStart, Play: ps.name, Task: name, Pos: pos, Module: "setup"})
	g := new(errgroup.Group)
	g.SetLimit(r.o.Forks)
	for _, h := range active {
		g.Go(func() error {
			ev := Event{Type: EvHostResult, Task: name, Pos: pos, Module: "setup", Host: h.name, Status: StatusOK}
			sc := r.taskScope(ps, nil, inherit{}, h, r.o.Check)
			facts, err := r.factsOf(ctx, h, sc)
			h.mu.Lock()
			switch {
			case err != nil && transport.IsUnreachable(err):
				h.stats.Unreachable++
				h.unreachable = true
				ev.Status, ev.Msg = StatusUnreachable, err.Error()
			case err != nil:
				h.stats.Failed++
				h.failed = true
				ev.Status, ev.Msg = StatusFailed, err.Error()
			default:
				h.stats.OK++
			}
			h.mu.Unlock()
			if err == nil {
				h.setFacts(facts)
			}
			r.emit(ev)
			return nil
		})
	}
	g.Wait()
}

func (r *runner) factsOf(ctx context.Context, h *hostState, sc *scope) (map[string]any, error) {
	conn, err := r.hostConn(ctx, h, sc)
	if err != nil {
		return nil, err
	}
	res, err := conn.Run(ctx, transport.Command{Cmd: factsScript})
	if err != nil {
		return nil, fmt.Errorf("%s: gathering facts: %w", h.name, err)
	}
	if res.RC != 0 {
		return nil, fmt.Errorf("%s: gathering facts: rc=%d: %s", h.name, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	return parseFacts(string(res.Stdout)), nil
}

// parseFacts turns the facts script's output into ansible_* variables; the
// same values without the prefix are under ansible_facts.
func parseFacts(out string) map[string]any {
	sec := strings.Split(out, "--kplay--\n")
	for len(sec) < 5 {
		sec = append(sec, "")
	}
	f := map[string]any{}
	nodename := strings.TrimSpace(sec[0])
	short, _, _ := strings.Cut(nodename, ".")
	f["hostname"] = short
	f["nodename"] = nodename
	fqdn := strings.TrimSpace(sec[4])
	if fqdn == "" {
		fqdn = nodename
	}
	f["fqdn"] = fqdn
	un := strings.Split(strings.TrimSpace(sec[1]), "\n")
	for len(un) < 3 {
		un = append(un, "")
	}
	f["system"] = strings.TrimSpace(un[0])
	f["kernel"] = strings.TrimSpace(un[1])
	f["architecture"] = strings.TrimSpace(un[2])
	f["machine"] = strings.TrimSpace(un[2])

	osr := map[string]string{}
	for _, line := range strings.Split(sec[2], "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok {
			osr[k] = strings.Trim(v, `"'`)
		}
	}
	dist := distribution(osr["ID"])
	f["distribution"] = dist
	f["distribution_version"] = osr["VERSION_ID"]
	major, _, _ := strings.Cut(osr["VERSION_ID"], ".")
	f["distribution_major_version"] = major
	f["distribution_release"] = osr["VERSION_CODENAME"]
	f["os_family"] = osFamily(osr["ID"], osr["ID_LIKE"], dist)

	v4, v6 := []any{}, []any{}
	for _, line := range strings.Split(sec[3], "\n") {
		fs := strings.Fields(line)
		if len(fs) < 4 {
			continue
		}
		addr, _, _ := strings.Cut(fs[3], "/")
		switch fs[2] {
		case "inet":
			if !strings.HasPrefix(addr, "127.") {
				v4 = append(v4, addr)
			}
		case "inet6":
			if addr != "::1" && !strings.HasPrefix(addr, "fe80:") {
				v6 = append(v6, addr)
			}
		}
	}
	f["all_ipv4_addresses"] = v4
	f["all_ipv6_addresses"] = v6

	out2 := map[string]any{"ansible_facts": f}
	for k, v := range f {
		out2["ansible_"+k] = v
	}
	return out2
}

func distribution(id string) string {
	switch id {
	case "":
		return ""
	case "rhel":
		return "RedHat"
	case "centos":
		return "CentOS"
	case "opensuse", "opensuse-leap", "opensuse-tumbleweed":
		return "openSUSE"
	}
	return strings.ToUpper(id[:1]) + id[1:]
}

func osFamily(id, like, dist string) string {
	all := " " + id + " " + like + " "
	switch {
	case strings.Contains(all, " debian ") || strings.Contains(all, " ubuntu "):
		return "Debian"
	case strings.Contains(all, " rhel ") || strings.Contains(all, " fedora ") || strings.Contains(all, " centos "):
		return "RedHat"
	case strings.Contains(all, " suse "):
		return "Suse"
	case strings.Contains(all, " arch "):
		return "Archlinux"
	case id == "alpine":
		return "Alpine"
	}
	return dist
}
