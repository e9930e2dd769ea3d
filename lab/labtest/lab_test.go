//go:build lab

package labtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"kplay/dsl/inventory"
)

// repo is the repository root, seen from this package's directory (go test's cwd).
const repo = "../.."

// labSh runs lab/lab.sh with args and returns its combined output.
func labSh(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repo, "lab", "lab.sh"))
	cmd.Args = append(cmd.Args, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// labEnv is what `lab.sh env` prints: the lab's paths.
type labEnv map[string]string

func readEnv(t *testing.T) labEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := labSh(ctx, "env")
	if err != nil {
		t.Fatalf("lab.sh env: %v\n%s", err, out)
	}
	env := labEnv{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("lab.sh env: line %q is not KEY=VALUE", line)
		}
		env[k] = v
	}
	return env
}

type invHost struct{ name, addr string }

// labInventory is the committed inventory/ as kplay reads it: the kcm group's hosts
// and the variables they all get from group_vars.
type labInventory struct {
	hosts []invHost
	vars  map[string]any
}

func (inv labInventory) str(t *testing.T, name string) string {
	t.Helper()
	s, ok := inv.vars[name].(string)
	if !ok || s == "" {
		t.Fatalf("inventory: %s is missing or not a string (%v)", name, inv.vars[name])
	}
	return s
}

// readInventory loads inventory/ with kplay's own loader, as `kplay -i inventory` does.
func readInventory(t *testing.T) labInventory {
	t.Helper()
	loaded, ds := inventory.Load([]string{filepath.Join(repo, "inventory")})
	if err := ds.Err(); err != nil {
		t.Fatalf("inventory: %v", err)
	}
	var inv labInventory
	for _, name := range loaded.Groups()["kcm"] {
		vars := loaded.HostVars(name)
		addr, _ := vars["ansible_host"].(string)
		inv.hosts = append(inv.hosts, invHost{name: name, addr: addr})
		if inv.vars == nil {
			inv.vars = vars
		}
	}
	if len(inv.hosts) == 0 {
		t.Fatalf("inventory: group kcm has no hosts")
	}
	return inv
}

// sshRun runs cmd on addr as root with the lab's key; host keys are checked against
// knownHosts.
func sshRun(ctx context.Context, addr, keyFile, knownHosts, cmd string) (string, error) {
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return "", err
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		return "", fmt.Errorf("%s: %w", keyFile, err)
	}
	hostKeys, err := knownhosts.New(knownHosts)
	if err != nil {
		return "", err
	}
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         5 * time.Second,
	}
	hostport := net.JoinHostPort(addr, "22")
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return "", err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, hostport, cfg)
	if err != nil {
		conn.Close()
		return "", err
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	return strings.TrimSpace(string(out)), err
}

// snapshot is everything lab-up could change: the pids it started, the files it
// writes, its mounts, namespaces and links.
type snapshot struct {
	Pids   map[string]string
	Starts map[string]string
	PidNS  map[string]string // each host's pid namespace, from its PID 1
	Files  map[string]string
	Mounts []string
	Netns  []string
	Links  []string
	IDs    map[string]string
}

func takeSnapshot(t *testing.T, env labEnv, inv labInventory) snapshot {
	t.Helper()
	s := snapshot{Pids: map[string]string{}, Starts: map[string]string{}, PidNS: map[string]string{}, Files: map[string]string{}, IDs: map[string]string{}}
	pidFiles, _ := filepath.Glob(filepath.Join(env["LAB_RUN"], "*"))
	for _, f := range pidFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pid := strings.TrimSpace(string(b))
		s.Pids[filepath.Base(f)] = pid
		s.Starts[pid] = startTime(pid)
		if strings.HasSuffix(f, ".init") {
			ns, err := os.Readlink("/proc/" + pid + "/ns/pid")
			if err != nil {
				t.Fatalf("%s: PID 1 of the host: %v", f, err)
			}
			s.PidNS[strings.TrimSuffix(filepath.Base(f), ".init")] = ns
		}
	}
	if len(s.PidNS) != len(inv.hosts) {
		t.Fatalf("the lab recorded the PID 1 of %d hosts (%v), want %d", len(s.PidNS), s.PidNS, len(inv.hosts))
	}
	for _, dir := range []string{env["LAB_PKI"], env["LAB_SSH"]} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			s.Files[p] = fmt.Sprintf("%x %s %v", sha256.Sum256(b), info.ModTime().Format(time.RFC3339Nano), info.Mode())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Mounts = labMounts(t, env)
	s.Netns = labNetns(t)
	s.Links = labLinks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, h := range inv.hosts {
		id, err := sshRun(ctx, h.addr, inv.str(t, "ansible_ssh_private_key_file"), inv.str(t, "kplay_known_hosts"), "cat /etc/machine-id")
		if err != nil {
			t.Fatalf("%s: %v", h.name, err)
		}
		s.IDs[h.name] = id
	}
	return s
}

// startTime is field 22 of /proc/PID/stat: with the pid it names one process for good.
func startTime(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; count from the closing parenthesis.
	rest := string(b[bytes.LastIndexByte(b, ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 20 || f[0] == "Z" {
		return ""
	}
	return f[19]
}

func labMounts(t *testing.T, env labEnv) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var m []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, env["LAB_STATE"]) || strings.Contains(line, env["LAB_ROOTFS"]) {
			f := strings.Fields(line)
			m = append(m, f[4]) // the mount point
		}
	}
	sort.Strings(m)
	return m
}

func labNetns(t *testing.T) []string {
	t.Helper()
	var ns []string
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "kcm-") {
			ns = append(ns, e.Name())
		}
	}
	return ns
}

func labLinks(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var l []string
	for _, i := range ifs {
		if i.Name == "kplay-br0" || strings.HasPrefix(i.Name, "vkcm-") {
			l = append(l, fmt.Sprintf("%d:%s", i.Index, i.Name))
		}
	}
	return l
}

// labProcesses lists running processes that belong to the lab: their command line
// names the lab's state or they run as one of its containers.
func labProcesses(env labEnv) []string {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var found []string
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, env["LAB_STATE"]) || strings.Contains(cmd, "--machine=kcm-") {
			found = append(found, filepath.Base(d)+": "+cmd)
		}
	}
	return found
}

func TestLab(t *testing.T) {
	env := readEnv(t)
	inv := readInventory(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// Not up is a failure, never a skip: whoever runs these wants the lab checked.
	status, err := labSh(ctx, "status")
	if err != nil {
		t.Fatalf("the lab is not up (make lab-up first, or run make lab-test): lab.sh status: %v\n%s", err, status)
	}

	// The whole lab fits in 2 GiB: status sums the resident memory of every process
	// of the lab (control plane, nspawns, everything inside the hosts).
	t.Run("memory", func(t *testing.T) {
		var mib int
		for _, line := range strings.Split(status, "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "memory" && f[2] == "MiB" {
				fmt.Sscan(f[1], &mib)
			}
		}
		if mib <= 0 || mib >= 2048 {
			t.Errorf("lab memory = %d MiB, want between 0 and 2048 MiB; status:\n%s", mib, status)
		}
	})

	t.Run("inventory", func(t *testing.T) {
		want := strings.Fields(env["LAB_HOSTS"])
		if len(inv.hosts) != len(want) {
			t.Fatalf("inventory: group kcm has %d hosts, the lab %d (%v)", len(inv.hosts), len(want), want)
		}
		for i, h := range inv.hosts {
			if h.name != want[i] || h.addr != fmt.Sprintf("198.18.0.1%d", i+1) {
				t.Errorf("inventory host %d is %s at %s, the lab's is %s at 198.18.0.1%d", i, h.name, h.addr, want[i], i+1)
			}
		}
		for _, v := range []string{"ansible_ssh_private_key_file", "kplay_known_hosts", "cluster_ca_cert", "cluster_ca_key",
			"admin_cert", "admin_key", "admin_kubeconfig", "kcm_binary", "kcm_work_dir"} {
			t.Run(v, func(t *testing.T) {
				p := inv.str(t, v)
				if st, err := os.Stat(p); err != nil || st.Size() == 0 {
					t.Errorf("%s = %s: the lab made no such file (%v)", v, p, err)
				}
			})
		}
		if got := inv.str(t, "kube_apiserver"); got != env["LAB_APISERVER"] {
			t.Errorf("kube_apiserver = %s, the lab's apiserver is %s", got, env["LAB_APISERVER"])
		}
	})

	t.Run("hosts", func(t *testing.T) {
		ids := map[string]string{}
		for _, h := range inv.hosts {
			t.Run(h.name, func(t *testing.T) {
				for _, c := range []struct{ cmd, want string }{
					{"hostname", h.name},
					{"systemctl is-system-running", "running"},
					{"ip -4 -o addr show dev eth0 | awk '{print $4}'", h.addr + "/24"},
					// Only the lab's subnet is reachable from a host.
					{"ip route show | awk '{print $1}' | paste -sd' '", "198.18.0.0/24"},
					{"ip -6 -o addr show dev eth0 | wc -l", "0"},
				} {
					got, err := sshRun(ctx, h.addr, inv.str(t, "ansible_ssh_private_key_file"), inv.str(t, "kplay_known_hosts"), c.cmd)
					if err != nil || got != c.want {
						t.Errorf("ssh %s %q = %q, %v; want %q", h.addr, c.cmd, got, err, c.want)
					}
				}
				id, err := sshRun(ctx, h.addr, inv.str(t, "ansible_ssh_private_key_file"), inv.str(t, "kplay_known_hosts"), "cat /etc/machine-id")
				if err != nil || len(id) != 32 {
					t.Errorf("%s: machine-id %q, %v", h.name, id, err)
				}
				if other, dup := ids[id]; dup {
					t.Errorf("%s has the machine-id of %s: %s", h.name, other, id)
				}
				ids[id] = h.name
			})
		}
	})

	// Host-key checking is really on: the lab's key pair with a known_hosts that does
	// not hold the host, or holds another key for it, is refused.
	t.Run("host keys checked", func(t *testing.T) {
		kh, err := os.ReadFile(inv.str(t, "kplay_known_hosts"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(kh)), "\n")
		if len(lines) != len(inv.hosts) {
			t.Fatalf("known_hosts has %d lines, want one per host (%d)", len(lines), len(inv.hosts))
		}
		first := inv.hosts[0]
		// The second host's key under the first host's names.
		wrong := strings.Join(append([]string{first.name + "," + first.addr}, strings.Fields(lines[1])[1:]...), " ")
		dir := t.TempDir()
		for _, c := range []struct {
			name, content string
			changed       bool
		}{
			{"unknown", lines[1] + "\n", false},
			{"changed", wrong + "\n", true},
		} {
			t.Run(c.name, func(t *testing.T) {
				f := filepath.Join(dir, c.name)
				if err := os.WriteFile(f, []byte(c.content), 0o600); err != nil {
					t.Fatal(err)
				}
				_, err := sshRun(ctx, first.addr, inv.str(t, "ansible_ssh_private_key_file"), f, "true")
				var ke *knownhosts.KeyError
				if !errors.As(err, &ke) {
					t.Fatalf("ssh %s with a known_hosts that does not hold its key: err = %v, want a knownhosts.KeyError", first.addr, err)
				}
				if changed := len(ke.Want) > 0; changed != c.changed {
					t.Errorf("KeyError.Want = %v: changed key %v, want %v", ke.Want, changed, c.changed)
				}
			})
		}
	})

	t.Run("apiserver readyz", func(t *testing.T) {
		caPEM, err := os.ReadFile(inv.str(t, "cluster_ca_cert"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			t.Fatalf("%s holds no certificate", inv.str(t, "cluster_ca_cert"))
		}
		cert, err := tls.LoadX509KeyPair(inv.str(t, "admin_cert"), inv.str(t, "admin_key"))
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
		for _, c := range []struct{ path, want string }{
			{"/readyz", "ok"},
			{"/livez", "ok"},
		} {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, env["LAB_APISERVER"]+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", c.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != c.want {
				t.Errorf("GET %s = %d %q, want 200 %q", c.path, resp.StatusCode, body, c.want)
			}
		}
		// The admin is system:masters: RBAC lets it read kube-system's Leases, which
		// the playbook's k8s_leader does with these credentials.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env["LAB_APISERVER"]+"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("list leases as admin: %s", resp.Status)
		}
	})

	before := takeSnapshot(t, env, inv)

	t.Run("up again changes nothing", func(t *testing.T) {
		out, err := labSh(ctx, "up")
		if err != nil {
			t.Fatalf("lab.sh up while up: %v\n%s", err, out)
		}
		if !strings.Contains(out, "already up") {
			t.Errorf("lab.sh up while up does not say it is already up:\n%s", out)
		}
		after := takeSnapshot(t, env, inv)
		if !reflect.DeepEqual(before, after) {
			t.Errorf("lab.sh up while up changed the lab:\nbefore %+v\nafter  %+v", before, after)
		}
	})

	t.Run("down leaves nothing", func(t *testing.T) {
		out, err := labSh(ctx, "down")
		if err != nil {
			t.Fatalf("lab.sh down: %v\n%s", err, out)
		}
		for name, pid := range before.Pids {
			if st := startTime(pid); st != "" && st == before.Starts[pid] {
				t.Errorf("%s: pid %s still runs", name, pid)
			}
		}
		// Every process of a host, whatever its command line, lived in the host's
		// pid namespace.
		inHosts := map[string]string{}
		for h, ns := range before.PidNS {
			inHosts[ns] = h
		}
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			ns, err := os.Readlink(filepath.Join(d, "ns", "pid"))
			if h, ok := inHosts[ns]; ok && err == nil && startTime(filepath.Base(d)) != "" {
				t.Errorf("pid %s of host %s still runs", filepath.Base(d), h)
			}
		}
		if p := labProcesses(env); len(p) > 0 {
			t.Errorf("processes of the lab still run:\n%s", strings.Join(p, "\n"))
		}
		if m := labMounts(t, env); len(m) > 0 {
			t.Errorf("mounts of the lab remain: %v", m)
		}
		if ns := labNetns(t); len(ns) > 0 {
			t.Errorf("network namespaces of the lab remain: %v", ns)
		}
		if l := labLinks(t); len(l) > 0 {
			t.Errorf("links of the lab remain: %v", l)
		}
		for _, d := range []string{env["LAB_STATE"], env["LAB_RUN"]} {
			if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s remains (%v)", d, err)
			}
		}
		var d net.Dialer
		if c, err := d.DialContext(ctx, "tcp", "127.0.0.1:2379"); err == nil {
			c.Close()
			t.Errorf("something still listens on etcd's 127.0.0.1:2379")
		}
		// The caches stay, so the next lab-up is warm.
		for _, p := range []string{env["LAB_ROOTFS"], env["LAB_K8S"], inv.str(t, "cluster_ca_cert"), inv.str(t, "kplay_known_hosts")} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("cache %s is gone: %v", p, err)
			}
		}
		if out, err := labSh(ctx, "status"); err == nil {
			t.Errorf("lab.sh status says up after down:\n%s", out)
		}
	})
}
