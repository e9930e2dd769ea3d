//go:build lab

package kcmtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"kplay/dsl/inventory"
	"kplay/engine"
)

// repo is the repository root, seen from this package's directory (go test's cwd).
const repo = "../.."

// unit is the systemd unit the playbook installs.
const unit = "kube-controller-manager"

// trees are the directories on each master the playbook writes into; the check
// run must leave them byte-identical.
var trees = []string{"/etc/systemd/system", "/etc/kubernetes", "/usr/local/k8s", "/data/k8s"}

type host struct{ name, addr string }

// lab is what the tests need to know about the lab, all read from inventory/.
type lab struct {
	bin      string
	hosts    []host
	vars     map[string]any
	key      ssh.Signer
	known    ssh.HostKeyCallback
	admin    *http.Client // the admin client certificate, the lab CA
	apiBase  string
	workDir  string // kcm_work_dir on this machine
	measured map[string]string
}

func (l *lab) str(t *testing.T, name string) string {
	t.Helper()
	s, ok := l.vars[name].(string)
	if !ok || s == "" {
		t.Fatalf("inventory: %s is missing or not a string (%v)", name, l.vars[name])
	}
	return s
}

func setup(t *testing.T) *lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// The lab, up (lab.sh up says so and changes nothing when it is).
	up := exec.CommandContext(ctx, "bash", filepath.Join(repo, "lab", "lab.sh"), "up")
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("the lab is needed and lab/lab.sh up failed: %v\n%s", err, out)
	}

	// kplay, built from this tree.
	l := &lab{bin: filepath.Join(t.TempDir(), "kplay"), measured: map[string]string{}}
	build := exec.CommandContext(ctx, "go", "build", "-o", l.bin, "./cmd/kplay")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kplay: %v\n%s", err, out)
	}

	inv, ds := inventory.Load([]string{filepath.Join(repo, "inventory")})
	if err := ds.Err(); err != nil {
		t.Fatalf("inventory: %v", err)
	}
	for _, name := range inv.Groups()["kcm"] {
		vars := inv.HostVars(name)
		addr, _ := vars["ansible_host"].(string)
		if addr == "" {
			t.Fatalf("inventory: %s has no ansible_host", name)
		}
		l.hosts = append(l.hosts, host{name, addr})
		if l.vars == nil {
			l.vars = vars
		}
	}
	if len(l.hosts) != 3 {
		t.Fatalf("inventory: group kcm has %d hosts, want the lab's 3", len(l.hosts))
	}

	keyPEM, err := os.ReadFile(l.str(t, "ansible_ssh_private_key_file"))
	if err != nil {
		t.Fatal(err)
	}
	if l.key, err = ssh.ParsePrivateKey(keyPEM); err != nil {
		t.Fatal(err)
	}
	if l.known, err = knownhosts.New(l.str(t, "kplay_known_hosts")); err != nil {
		t.Fatal(err)
	}

	caPEM, err := os.ReadFile(l.str(t, "cluster_ca_cert"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s: no certificate", l.str(t, "cluster_ca_cert"))
	}
	admin, err := tls.LoadX509KeyPair(l.str(t, "admin_cert"), l.str(t, "admin_key"))
	if err != nil {
		t.Fatal(err)
	}
	l.admin = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{admin}},
	}}
	l.apiBase = l.str(t, "kube_apiserver")
	l.workDir = l.str(t, "kcm_work_dir")
	return l
}

// ssh runs cmd as root on h, host key checked.
func (l *lab) ssh(ctx context.Context, h host, cmd string) (string, error) {
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(l.key)},
		HostKeyCallback: l.known, Timeout: 10 * time.Second}
	hostport := net.JoinHostPort(h.addr, "22")
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return "", fmt.Errorf("%s: %w", h.name, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, hostport, cfg)
	if err != nil {
		conn.Close()
		return "", fmt.Errorf("%s: %w", h.name, err)
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return "", fmt.Errorf("%s: %w", h.name, err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if err := sess.Run(cmd); err != nil {
		return stdout.String(), fmt.Errorf("%s: %s: %w: %s", h.name, cmd, err, stderr.String())
	}
	return stdout.String(), nil
}

// onEach runs cmd on every host at once and returns the outputs by host name.
func (l *lab) onEach(t *testing.T, cmd string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for _, h := range l.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := l.ssh(ctx, h, cmd)
			mu.Lock()
			defer mu.Unlock()
			out[h.name] = s
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// clean takes the lab back to no KCM deployed: the unit stopped, disabled and
// gone, every file and directory the playbook makes on the masters removed
// (none of /etc/kubernetes, /usr/local/k8s, /data is in the lab's root
// filesystem), the certificate it issues on this machine removed, and the
// leader Lease deleted.
func (l *lab) clean(t *testing.T) {
	t.Helper()
	l.onEach(t, "systemctl disable --now "+unit+" >/dev/null 2>&1; "+
		"rm -f /etc/systemd/system/"+unit+".service && rm -rf /etc/kubernetes /usr/local/k8s /data && "+
		"systemctl daemon-reload && { systemctl reset-failed "+unit+" >/dev/null 2>&1; true; }")
	for _, f := range []string{unit + ".pem", unit + "-key.pem"} {
		if err := os.Remove(filepath.Join(l.workDir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, l.apiBase+"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"+unit, nil)
	resp, err := l.admin.Do(req)
	if err != nil {
		t.Fatalf("delete the Lease: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		t.Fatalf("delete the Lease: %s", resp.Status)
	}
}

// snapshot is, per host, every path under trees with its type, mode, owner,
// size and link target, the sha256 of every file, and the unit's state; and the
// same for kcm_work_dir on this machine.
func (l *lab) snapshot(t *testing.T) map[string]string {
	t.Helper()
	cmd := `for d in ` + strings.Join(trees, " ") + `; do
  if [ -e "$d" ]; then find "$d" -printf '%p %y %m %U %G %s %l\n' | sort; find "$d" -type f -exec sha256sum {} + | sort -k2; else echo "absent $d"; fi
done; [ -e /data ] && echo "/data exists"; systemctl show -p LoadState,ActiveState,SubState,UnitFileState,MainPID ` + unit
	snap := l.onEach(t, cmd)
	var local strings.Builder
	entries, err := os.ReadDir(l.workDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(l.workDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&local, "%s %s\n", e.Name(), hex.EncodeToString(sum[:]))
	}
	snap["localhost:"+l.workDir] = local.String()
	return snap
}

// run is one kplay run, with its JSON events.
type run struct {
	events  []engine.Event
	rc      int
	stderr  string
	elapsed time.Duration
}

func (r run) recap(t *testing.T) map[string]engine.HostStats {
	t.Helper()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Type == engine.EvRecap {
			out := map[string]engine.HostStats{}
			for _, s := range r.events[i].Recap {
				out[s.Host] = s
			}
			return out
		}
	}
	t.Fatalf("no recap in kplay's output; stderr:\n%s", r.stderr)
	return nil
}

// results lists the per-host (and per-item) results of a task.
func (r run) results(task string) []engine.Event {
	var out []engine.Event
	for _, e := range r.events {
		if (e.Type == engine.EvHostResult || e.Type == engine.EvItemResult) && e.Task == task {
			out = append(out, e)
		}
	}
	return out
}

// failures describes every failed or unreachable result, for messages.
func (r run) failures() string {
	var b strings.Builder
	for _, e := range r.events {
		if e.Status == engine.StatusFailed || e.Status == engine.StatusUnreachable {
			fmt.Fprintf(&b, "%s [%s]: %s %s\n", e.Task, e.Host, e.Msg, e.Stderr)
		}
	}
	return b.String() + r.stderr
}

// kplay runs the built kplay on a playbook of this repository against the
// lab's inventory, with --output json.
func (l *lab) kplay(t *testing.T, book string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.bin, append([]string{filepath.Join("playbooks", book), "-i", "inventory", "--output", "json"}, args...)...)
	cmd.Dir = repo
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := run{elapsed: time.Since(start), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.rc = exit.ExitCode()
	case err != nil:
		t.Fatalf("kplay %s: %v\n%s", book, err, stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e engine.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("kplay %s: output line is not an event: %v: %.200s", book, err, sc.Text())
		}
		r.events = append(r.events, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

// unitState is the unit's state on every host, as systemctl shows it.
func (l *lab) unitState(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for h, s := range l.onEach(t, "systemctl show -p ActiveState,SubState,UnitFileState,MainPID,ActiveEnterTimestamp,ExecMainStartTimestamp "+unit) {
		m := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
			k, v, _ := strings.Cut(line, "=")
			m[k] = v
		}
		out[h] = m
	}
	return out
}

// allRunning fails unless the unit is enabled and active (running) everywhere.
func (l *lab) allRunning(t *testing.T) map[string]map[string]string {
	t.Helper()
	st := l.unitState(t)
	for _, h := range l.hosts {
		s := st[h.name]
		if s["ActiveState"] != "active" || s["SubState"] != "running" || s["UnitFileState"] != "enabled" || s["MainPID"] == "0" {
			t.Errorf("%s: %s is %s (%s), %s, MainPID %s; want active (running), enabled", h.name, unit, s["ActiveState"], s["SubState"], s["UnitFileState"], s["MainPID"])
		}
	}
	return st
}

type lease struct {
	Spec struct {
		HolderIdentity       string `json:"holderIdentity"`
		LeaseDurationSeconds int    `json:"leaseDurationSeconds"`
		RenewTime            string `json:"renewTime"`
	} `json:"spec"`
}

func (l *lab) lease(t *testing.T) lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.apiBase+"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"+unit, nil)
	resp, err := l.admin.Do(req)
	if err != nil {
		t.Fatalf("read the Lease: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("read the Lease: %s: %s", resp.Status, body)
	}
	var le lease
	if err := json.Unmarshal(body, &le); err != nil {
		t.Fatal(err)
	}
	return le
}

// liveLeader waits until the Lease's holder renews it (a process that is
// alive), and returns the inventory host it names.
func (l *lab) liveLeader(t *testing.T) string {
	t.Helper()
	first := l.lease(t)
	for i := 0; i < 40; i++ {
		time.Sleep(time.Second)
		le := l.lease(t)
		if le.Spec.HolderIdentity != "" && le.Spec.RenewTime != first.Spec.RenewTime {
			name, _, _ := strings.Cut(le.Spec.HolderIdentity, "_")
			for _, h := range l.hosts {
				if h.name == name {
					return name
				}
			}
			t.Fatalf("the Lease's holder %q is not a host of the inventory", le.Spec.HolderIdentity)
		}
	}
	t.Fatalf("the Lease (holder %q) was not renewed in 40 s", first.Spec.HolderIdentity)
	return ""
}

// get fetches url with the lab's CA, and with the admin certificate when admin.
func (l *lab) get(t *testing.T, url string, admin bool) (int, string) {
	t.Helper()
	c := l.admin
	if !admin {
		tr := l.admin.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = nil
		c = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// TestKCM runs the scenarios of issue 6 in order, each on the state the one
// before left: check on a clean lab, deploy, deploy again, fail over.
func TestKCM(t *testing.T) {
	l := setup(t)
	l.clean(t)
	t.Cleanup(func() { l.clean(t) })
	defer func() {
		keys := make([]string, 0, len(l.measured))
		for k := range l.measured {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.Logf("measured: %s: %s", k, l.measured[k])
		}
	}()

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"check and diff on a clean lab change nothing", func(t *testing.T) { checkDiff(t, l) }},
		{"deploy from a clean lab", func(t *testing.T) { deploy(t, l) }},
		{"deploy again changes and restarts nothing", func(t *testing.T) { again(t, l) }},
		{"a change on one node restarts that node only", func(t *testing.T) { oneNode(t, l) }},
		{"failover", func(t *testing.T) { failover(t, l, "") }},
		{"failover with release on exit", func(t *testing.T) { failover(t, l, "true") }},
		{"failover restoring release on exit off", func(t *testing.T) { failover(t, l, "false") }},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.Fatalf("%s failed; the steps after it need it", s.name)
		}
	}
}

func checkDiff(t *testing.T, l *lab) {
	before := l.snapshot(t)
	r := l.kplay(t, "kcm.yaml", "--check", "--diff")
	after := l.snapshot(t)
	if r.rc != 0 {
		t.Fatalf("kplay --check --diff: exit %d\n%s", r.rc, r.failures())
	}
	if !reflect.DeepEqual(before, after) {
		for k := range before {
			if before[k] != after[k] {
				t.Errorf("%s changed in check mode:\nbefore:\n%s\nafter:\n%s", k, before[k], after[k])
			}
		}
	}

	certDir, kubeconfig := l.str(t, "kcm_cert_dir"), l.str(t, "kcm_kubeconfig")
	binDir, k8sDir := l.str(t, "kcm_bin_dir"), l.str(t, "k8s_dir")
	// Every file and directory the playbook writes on a master, and what
	// the diff must show of it ("" for content that stays hidden).
	want := map[string]string{
		"/etc/systemd/system/" + unit + ".service": "--kubeconfig=" + kubeconfig,
		kubeconfig:                        "server: " + l.str(t, "kube_apiserver"),
		certDir + "/ca.pem":               "BEGIN CERTIFICATE",
		certDir + "/ca-key.pem":           "",
		certDir + "/" + unit + ".pem":     "",
		certDir + "/" + unit + "-key.pem": "",
		binDir + "/" + unit:               "",
		binDir:                            "directory",
		certDir:                           "directory",
		filepath.Dir(kubeconfig):          "directory",
		k8sDir + "/" + unit:               "directory",
	}
	shown := map[string]map[string]engine.Diff{}
	for _, e := range r.events {
		for _, d := range e.Diffs {
			if shown[e.Host] == nil {
				shown[e.Host] = map[string]engine.Diff{}
			}
			shown[e.Host][d.Path] = d
		}
	}
	for _, h := range l.hosts {
		for path, content := range want {
			d, ok := shown[h.name][path]
			if !ok {
				t.Errorf("%s: --check --diff does not show %s", h.name, path)
				continue
			}
			if content != "" && !strings.Contains(d.After, content) {
				t.Errorf("%s: the diff of %s does not show %q:\n%s", h.name, path, content, d.After)
			}
		}
		unitDiff := shown[h.name]["/etc/systemd/system/"+unit+".service"]
		if !strings.Contains(unitDiff.After, "--bind-address="+h.addr+" ") {
			t.Errorf("%s: the unit does not bind to the host's address %s:\n%s", h.name, h.addr, unitDiff.After)
		}
	}
	for _, e := range r.results("Issue the kube-controller-manager certificate") {
		if e.Status != engine.StatusChanged {
			t.Errorf("check mode on a clean lab: the certificate task is %s, want changed (would issue)", e.Status)
		}
	}
}

func deploy(t *testing.T, l *lab) {
	r := l.kplay(t, "kcm.yaml")
	l.measured["deploy from clean (kcm.yaml)"] = fmt.Sprintf("%.1f s, load average %s", r.elapsed.Seconds(), loadavg())
	if r.rc != 0 {
		t.Fatalf("kplay kcm.yaml: exit %d\n%s", r.rc, r.failures())
	}
	for _, h := range l.hosts {
		s := r.recap(t)[h.name]
		if s.Changed == 0 || s.Failed != 0 || s.Unreachable != 0 {
			t.Errorf("%s: recap %+v, want changed > 0 and no failure", h.name, s)
		}
	}
	l.allRunning(t)

	port := fmt.Sprint(l.vars["kcm_secure_port"])
	prom := regexp.MustCompile(`(?m)^# TYPE [a-z_:]+ (counter|gauge|histogram|summary|untyped)$`)
	for _, h := range l.hosts {
		base := "https://" + net.JoinHostPort(h.addr, port)
		if code, body := l.get(t, base+"/healthz", false); code != 200 || body != "ok" {
			t.Errorf("%s: /healthz: %d %q, want 200 ok", h.name, code, body)
		}
		if code, body := l.get(t, base+"/metrics", true); code != 200 || !prom.MatchString(body) {
			t.Errorf("%s: /metrics with the admin certificate: %d, Prometheus text %v", h.name, code, prom.MatchString(body))
		}
		if code, _ := l.get(t, base+"/metrics", false); code != 401 && code != 403 {
			t.Errorf("%s: /metrics without a client certificate: %d, want 401 or 403", h.name, code)
		}
	}
	// The playbook checked the same on every host.
	for _, task := range []string{"The secure port answers /healthz", "/metrics answers the admin certificate with Prometheus text"} {
		if got := len(r.results(task)); got != len(l.hosts) {
			t.Errorf("%q ran on %d hosts, want %d", task, got, len(l.hosts))
		}
	}

	shows := r.results("Show the leader")
	if len(shows) != 1 {
		t.Fatalf("Show the leader: %d results, want 1", len(shows))
	}
	m := regexp.MustCompile(`^leader: (\S+) \(holder (\S+?)_`).FindStringSubmatch(shows[0].Msg)
	if m == nil || m[1] != m[2] {
		t.Fatalf("Show the leader says %q, want the leader's host and its holder", shows[0].Msg)
	}
	if got := l.liveLeader(t); got != m[1] {
		t.Errorf("the playbook printed leader %s, the Lease names %s", m[1], got)
	}
	t.Logf("%s", shows[0].Msg)
}

func again(t *testing.T, l *lab) {
	before := l.allRunning(t)
	r := l.kplay(t, "kcm.yaml")
	l.measured["deploy again, nothing to change (kcm.yaml)"] = fmt.Sprintf("%.1f s, load average %s", r.elapsed.Seconds(), loadavg())
	if r.rc != 0 {
		t.Fatalf("kplay kcm.yaml: exit %d\n%s", r.rc, r.failures())
	}
	for _, h := range l.hosts {
		if s := r.recap(t)[h.name]; s.Changed != 0 || s.Failed != 0 {
			t.Errorf("%s: recap %+v, want changed=0", h.name, s)
		}
	}
	for _, e := range r.events {
		if e.Handler && e.Type == engine.EvHostResult && e.Status != engine.StatusSkipped {
			t.Errorf("handler %q ran on %s (%s)", e.Task, e.Host, e.Status)
		}
	}
	after := l.allRunning(t)
	for _, h := range l.hosts {
		for _, k := range []string{"MainPID", "ActiveEnterTimestamp", "ExecMainStartTimestamp"} {
			if before[h.name][k] != after[h.name][k] {
				t.Errorf("%s restarted: %s %s -> %s", h.name, k, before[h.name][k], after[h.name][k])
			}
		}
	}
}

// failover runs kcm-failover.yaml; release is "" (the option not given),
// "true" or "false".
func failover(t *testing.T, l *lab, release string) {
	var args []string
	label := "default"
	if release != "" {
		args = []string{"-e", "release_on_exit=" + release}
		label = "release_on_exit=" + release
	}
	r := l.kplay(t, "kcm-failover.yaml", args...)
	if r.rc != 0 {
		t.Fatalf("kplay kcm-failover.yaml %s: exit %d\n%s", label, r.rc, r.failures())
	}
	// Each handover, from just before the stop to the new leader, by the
	// times of kplay's events.
	var waited []string
	for _, span := range [][2]string{
		{"Note the time before the first stop", "Wait for another node to take the lease"},
		{"Note the time of the first handover", "Wait for the last node to take the lease"},
	} {
		from, to := r.results(span[0]), r.results(span[1])
		if len(from) != 1 || len(to) != 1 || to[0].Status != engine.StatusOK {
			t.Fatalf("%s / %s: %d and %d results, want one each, ok", span[0], span[1], len(from), len(to))
		}
		if _, ok := to[0].Result["waited"].(float64); !ok {
			t.Fatalf("%s: no waited in %v", span[1], to[0].Result)
		}
		waited = append(waited, fmt.Sprintf("%.1f s", to[0].Time.Sub(from[0].Time).Seconds()))
	}
	l.measured["handover ("+label+")"] = strings.Join(waited, " and ") + fmt.Sprintf("; failover playbook %.1f s; load average %s", r.elapsed.Seconds(), loadavg())
	for _, e := range r.results("Report") {
		t.Logf("%s", e.Msg)
	}

	l.allRunning(t)
	l.liveLeader(t)
	gate := "--feature-gates=ControllerManagerReleaseLeaderElectionLockOnExit=true"
	for h, s := range l.onEach(t, "cat /etc/systemd/system/"+unit+".service") {
		if has := strings.Contains(s, gate); has != (release == "true") {
			t.Errorf("%s: the unit has %s: %v, want %v", h, gate, has, release == "true")
		}
	}
	if release == "false" {
		// Back exactly as kcm.yaml renders it.
		r := l.kplay(t, "kcm.yaml")
		if r.rc != 0 {
			t.Fatalf("kplay kcm.yaml after the failover: exit %d\n%s", r.rc, r.failures())
		}
		for _, h := range l.hosts {
			if s := r.recap(t)[h.name]; s.Changed != 0 {
				t.Errorf("%s: kcm.yaml after restoring: recap %+v, want changed=0", h.name, s)
			}
		}
	}
}

// oneNode edits the kubeconfig on one master by hand; kcm.yaml puts it back and
// restarts KCM there, and only there.
func oneNode(t *testing.T, l *lab) {
	target := l.hosts[1]
	before := l.allRunning(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := l.ssh(ctx, target, "echo '# edited by hand' >> "+l.str(t, "kcm_kubeconfig")); err != nil {
		t.Fatal(err)
	}
	r := l.kplay(t, "kcm.yaml")
	if r.rc != 0 {
		t.Fatalf("kplay kcm.yaml: exit %d\n%s", r.rc, r.failures())
	}
	after := l.allRunning(t)
	for _, h := range l.hosts {
		s := r.recap(t)[h.name]
		restarted := before[h.name]["MainPID"] != after[h.name]["MainPID"] ||
			before[h.name]["ActiveEnterTimestamp"] != after[h.name]["ActiveEnterTimestamp"]
		if h == target {
			if s.Changed == 0 || !restarted {
				t.Errorf("%s (edited): recap %+v, restarted %v; want changed and restarted", h.name, s, restarted)
			}
			continue
		}
		if s.Changed != 0 || restarted {
			t.Errorf("%s (not edited): recap %+v, restarted %v; want changed=0 and no restart", h.name, s, restarted)
		}
	}
}
