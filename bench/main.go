// Command kplay-bench (`make bench`) puts kplay beside ansible-playbook and
// a one-session-per-command Go floor on the same loopback sshd hosts in the
// same run. For each N it starts N real sshd servers (internal/sshdtest),
// runs every tool once to warm up and then several times, and prints each
// tool's median wall time, peak memory, the CPU the sshd side spent, and the
// ratios to kplay. After every run it checks that the files landed byte for
// byte.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/ssh"

	"kplay/bench/workload"
	"kplay/internal/sshdtest"
)

type tool struct {
	name       string
	runs       int
	persistent bool // keeps connections open after it exits (ControlPersist)
	cmd        func(w *world) *exec.Cmd
}

// world is one N's hosts and the files every tool reads.
type world struct {
	dir      string
	cluster  *sshdtest.Cluster
	spec     *workload.Spec
	specFile string
	forks    int
	bin      string
	kplay    string
}

type sample struct {
	wall    time.Duration
	maxRSS  int64         // KiB
	cpu     time.Duration // the tool's own user+system time, children included
	sshdCPU time.Duration
}

func main() {
	ns := flag.String("n", "1,5,20,50", "host counts")
	runs := flag.Int("runs", 5, "measured runs per tool and N (after one warm-up)")
	ansibleRuns := flag.Int("ansible-runs", 3, "measured runs for ansible-playbook (it is slow)")
	tools := flag.String("tools", "kplay,floor,ansible", "tools to run: kplay, transport (kplay's transport/ssh without the playbook layer), floor, ansible")
	bin := flag.String("bin", "bin", "directory holding bench-floor, bench-kplayrun and (when built) kplay")
	keep := flag.Bool("keep", false, "keep the scratch directory")
	benchUser := flag.String("user", "kplaybench", "user the tools log in as; created (shell /bin/sh, no rc files) and removed again when missing")
	serve := flag.Int("serve", 0, "start this many hosts, write the workload (playbook, inventory, spec) and wait for Ctrl-C instead of measuring: for profiling a tool by hand")
	flag.Parse()

	if err := sshdtest.Prereqs(); err != nil {
		fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fatal(errors.New("interrupted"))
	}()
	binDir, _ := filepath.Abs(*bin)
	dir, err := os.MkdirTemp("", "kplay-bench-")
	if err != nil {
		fatal(err)
	}
	os.Chmod(dir, 0o755)
	if !*keep {
		scratch = dir // cleanup removes it, on an interrupt too
	}

	// A plain user with /bin/sh: a root whose .bashrc starts pyenv would
	// charge every new session for it and measure the login shell, not the tools.
	uid, gid, err := ensureUser(*benchUser)
	if err != nil {
		fatal(err)
	}

	key, err := sshdtest.NewUserKey(dir, "id_ed25519")
	if err != nil {
		fatal(err)
	}
	blob := make([]byte, workload.BlobSize)
	rand.Read(blob)
	blobPath := filepath.Join(dir, "blob.bin")
	tmplPath := filepath.Join(dir, "greeting.j2")
	if err := os.WriteFile(blobPath, blob, 0o644); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(tmplPath, []byte(workload.Template), 0o644); err != nil {
		fatal(err)
	}

	kplayBin := filepath.Join(binDir, "kplay")
	useCLI := isFile(kplayBin)
	kplayNote := "kplay: bin/kplay with an inventory and a playbook"
	if !useCLI {
		kplayNote = "kplay: bin/kplay not built yet, so bench-kplayrun drives kplay's transport/ssh with the same calls"
	}

	all := map[string]tool{
		"kplay": {name: "kplay", runs: *runs, cmd: func(w *world) *exec.Cmd {
			if useCLI {
				return exec.Command(kplayBin, filepath.Join(w.dir, "playbook.yaml"), "-i", filepath.Join(w.dir, "inventory.ini"), "-f", strconv.Itoa(w.forks))
			}
			return exec.Command(filepath.Join(binDir, "bench-kplayrun"), w.specFile)
		}},
		"transport": {name: "kplay transport", runs: *runs, cmd: func(w *world) *exec.Cmd {
			return exec.Command(filepath.Join(binDir, "bench-kplayrun"), w.specFile)
		}},
		"floor": {name: "floor", runs: *runs, cmd: func(w *world) *exec.Cmd {
			return exec.Command(filepath.Join(binDir, "bench-floor"), w.specFile)
		}},
		"ansible": {name: "ansible-playbook", runs: *ansibleRuns, persistent: true, cmd: func(w *world) *exec.Cmd {
			c := exec.Command("ansible-playbook", filepath.Join(w.dir, "playbook.yaml"), "-i", filepath.Join(w.dir, "inventory.ini"), "-f", strconv.Itoa(w.forks))
			c.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(w.dir, "ansible.cfg"), "ANSIBLE_HOME="+filepath.Join(w.dir, "ansible-home"))
			return c
		}},
	}
	var order []tool
	for _, t := range strings.Split(*tools, ",") {
		tl, ok := all[strings.TrimSpace(t)]
		if !ok {
			fatal(fmt.Errorf("unknown tool %q (kplay, transport, floor, ansible)", t))
		}
		if tl.name == "ansible-playbook" {
			if _, err := exec.LookPath("ansible-playbook"); err != nil {
				fatal(errors.New("ansible-playbook is missing: `make deps` installs Debian's ansible-core"))
			}
		}
		order = append(order, tl)
	}

	type row struct {
		n     int
		tool  string
		med   sample
		err   error
		nruns int
	}
	if *serve > 0 {
		w, err := setupWorld(filepath.Join(dir, fmt.Sprintf("n%d", *serve)), *serve, key, blobPath, tmplPath, *benchUser, uid, gid)
		if err != nil {
			fatal(err)
		}
		fmt.Printf("%d hosts up; workload in %s (playbook.yaml, inventory.ini, spec.json); Ctrl-C stops them\n", *serve, w.dir)
		select {} // the signal handler stops the servers and exits
	}
	var rows []row
	for _, f := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fatal(fmt.Errorf("-n: bad host count %q", f))
		}
		w, err := setupWorld(filepath.Join(dir, fmt.Sprintf("n%d", n)), n, key, blobPath, tmplPath, *benchUser, uid, gid)
		if err != nil {
			fatal(err)
		}
		w.bin = binDir
		for _, tl := range order {
			fmt.Fprintf(os.Stderr, "N=%d %s: warm-up + %d runs\n", n, tl.name, tl.runs)
			var samples []sample
			var runErr error
			for i := 0; i <= tl.runs; i++ {
				s, err := runOnce(w, tl, blob)
				if err != nil {
					runErr = err
					break
				}
				if i > 0 { // run 0 warms caches and, for Ansible, its ControlPersist masters
					samples = append(samples, s)
				}
			}
			r := row{n: n, tool: tl.name, err: runErr, nruns: len(samples)}
			if runErr == nil {
				r.med = median(samples)
			} else {
				fmt.Fprintf(os.Stderr, "N=%d %s: %v\n", n, tl.name, runErr)
			}
			rows = append(rows, r)
		}
		stopAll()
	}
	cleanup()

	host, _ := os.Hostname()
	fmt.Printf("kplay benchmark, %s, %s, %d CPUs (%s), kernel %s, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), cpuModel(), kernel(), runtime.Version())
	fmt.Printf("workload per host: %d shell tasks (true), a %d KiB copy, a two-variable template, hostname; all hosts at once (forks = N); sshd on 127.0.0.x\n", workload.Shells, workload.BlobSize>>10)
	fmt.Printf("median of %d runs after a warm-up (ansible-playbook: %d); %s\n", *runs, *ansibleRuns, kplayNote)
	fmt.Printf("peak RSS: largest process of the tool's tree; tool CPU: user+system of the tool and its children; sshd CPU: the servers and everything they ran\n")
	fmt.Printf("load average at the end: %s\n\n", loadavg())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\ttool\twall\tpeak RSS\ttool CPU\tsshd CPU\twall / kplay's\tsshd CPU / kplay's\t")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(tw, "%d\t%s\tfailed: %v\t\t\t\t\t\t\n", r.n, r.tool, firstLine(r.err.Error()))
			continue
		}
		ratio, cpuRatio := "", ""
		for _, k := range rows {
			if k.n == r.n && k.tool == "kplay" && k.err == nil {
				ratio = fmt.Sprintf("%.2fx", r.med.wall.Seconds()/k.med.wall.Seconds())
				if k.med.sshdCPU > 0 {
					cpuRatio = fmt.Sprintf("%.2fx", r.med.sshdCPU.Seconds()/k.med.sshdCPU.Seconds())
				}
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%.3f s\t%.1f MiB\t%.2f s\t%.2f s\t%s\t%s\t\n", r.n, r.tool, r.med.wall.Seconds(), float64(r.med.maxRSS)/1024, r.med.cpu.Seconds(), r.med.sshdCPU.Seconds(), ratio, cpuRatio)
	}
	tw.Flush()
}

func setupWorld(dir string, n int, key *sshdtest.UserKey, blobPath, tmplPath, user string, uid, gid int) (*world, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c, err := sshdtest.Start(n, filepath.Join(dir, "hosts"), sshdtest.Config{AuthorizedKeys: []ssh.PublicKey{key.Public}})
	if err != nil {
		return nil, err
	}
	track(c)
	w := &world{dir: dir, cluster: c, forks: n}
	kh := filepath.Join(dir, "known_hosts")
	if err := c.WriteKnownHosts(kh); err != nil {
		return nil, err
	}
	w.spec = &workload.Spec{User: user, KeyFile: key.Path, KnownHosts: kh, Blob: blobPath, DestRoot: filepath.Join(dir, "dest")}
	var inv strings.Builder
	inv.WriteString("[bench]\n")
	for _, s := range c.Servers {
		w.spec.Hosts = append(w.spec.Hosts, workload.Host{Name: s.Name, Addr: s.Addr, Port: s.Port})
		fmt.Fprintf(&inv, "%s ansible_host=%s ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s kplay_known_hosts=%s\n", s.Name, s.Addr, s.Port, user, key.Path, kh)
		if err := os.MkdirAll(filepath.Join(w.spec.DestRoot, s.Name), 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(filepath.Join(w.spec.DestRoot, s.Name), uid, gid); err != nil {
			return nil, err
		}
	}
	b, _ := json.Marshal(w.spec)
	w.specFile = filepath.Join(dir, "spec.json")
	files := map[string]string{
		"spec.json":     string(b),
		"inventory.ini": inv.String(),
		"playbook.yaml": playbook(w.spec.DestRoot, blobPath, tmplPath),
		"ansible.cfg": fmt.Sprintf(`[defaults]
host_key_checking = True
gathering = explicit
interpreter_python = /usr/bin/python3
retry_files_enabled = False
deprecation_warnings = False

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=%s -o IdentitiesOnly=yes
control_path_dir = %s
`, kh, filepath.Join(dir, "cp")),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// playbook is the workload in the syntax kplay and ansible-playbook share.
func playbook(destRoot, blob, tmpl string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- hosts: all\n  gather_facts: false\n  vars:\n    greeting: %q\n  tasks:\n", workload.Greeting)
	for i := range workload.Shells {
		fmt.Fprintf(&b, "    - name: true %d\n      shell: \"true\"\n", i+1)
	}
	fmt.Fprintf(&b, "    - name: copy\n      copy:\n        src: %s\n        dest: %s/{{ inventory_hostname }}/blob.bin\n        mode: \"0644\"\n", blob, destRoot)
	fmt.Fprintf(&b, "    - name: template\n      template:\n        src: %s\n        dest: %s/{{ inventory_hostname }}/greeting.txt\n        mode: \"0644\"\n", tmpl, destRoot)
	b.WriteString("    - name: hostname\n      command: hostname\n")
	return b.String()
}

// runOnce clears the destinations, runs the tool, checks the files and
// measures.
func runOnce(w *world, tl tool, blob []byte) (sample, error) {
	for _, h := range w.spec.Hosts {
		os.Remove(workload.BlobDest(w.spec.DestRoot, h.Name))
		os.Remove(workload.TemplateDest(w.spec.DestRoot, h.Name))
	}
	before, err := sshdCPU(w.cluster)
	if err != nil {
		return sample{}, err
	}
	cmd := tl.cmd(w)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%v: %s", err, lastLines(out.String(), 15))
	}
	if !tl.persistent {
		waitQuiet(w.cluster)
	}
	after, err := sshdCPU(w.cluster)
	if err != nil {
		return sample{}, err
	}
	for _, h := range w.spec.Hosts {
		got, err := os.ReadFile(workload.BlobDest(w.spec.DestRoot, h.Name))
		if err != nil || !bytes.Equal(got, blob) {
			return sample{}, fmt.Errorf("%s: copied file differs from the source (%d bytes, %v)", h.Name, len(got), err)
		}
		got, err = os.ReadFile(workload.TemplateDest(w.spec.DestRoot, h.Name))
		if want := workload.Render(h.Name); err != nil || string(got) != want {
			return sample{}, fmt.Errorf("%s: template landed %q, want %q (%v)", h.Name, got, want, err)
		}
	}
	s := sample{wall: wall, sshdCPU: after - before}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.maxRSS = ru.Maxrss
	}
	s.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return s, nil
}

// sshdCPU is the CPU time of every sshd and all below it, finished or not.
func sshdCPU(c *sshdtest.Cluster) (time.Duration, error) {
	var total time.Duration
	for _, s := range c.Servers {
		pid := s.Pid()
		for _, p := range append([]int{pid}, sshdtest.Descendants(pid)...) {
			t, err := sshdtest.ProcCPUTime(p, true)
			if err != nil {
				if p == pid {
					return 0, err
				}
				continue // exited meanwhile: its time is in its parent's now
			}
			total += t
		}
	}
	return total, nil
}

// waitQuiet waits for the servers' connection processes to be gone, so
// their CPU time has been added to the listener's.
func waitQuiet(c *sshdtest.Cluster) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		busy := false
		for _, s := range c.Servers {
			if len(sshdtest.Descendants(s.Pid())) > 0 {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func median(s []sample) sample {
	pick := func(get func(sample) int64) int64 {
		v := make([]int64, len(s))
		for i, x := range s {
			v[i] = get(x)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return sample{
		wall:    time.Duration(pick(func(x sample) int64 { return int64(x.wall) })),
		maxRSS:  pick(func(x sample) int64 { return x.maxRSS }),
		cpu:     time.Duration(pick(func(x sample) int64 { return int64(x.cpu) })),
		sshdCPU: time.Duration(pick(func(x sample) int64 { return int64(x.sshdCPU) })),
	}
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// running holds the clusters started, so a failure or ^C stops them; sshd
// runs in its own process group and does not see the terminal's ^C.
var (
	runningMu sync.Mutex
	running   []*sshdtest.Cluster
)

func track(c *sshdtest.Cluster) {
	runningMu.Lock()
	running = append(running, c)
	runningMu.Unlock()
}

func stopAll() {
	runningMu.Lock()
	defer runningMu.Unlock()
	for _, c := range running {
		c.Stop()
	}
	running = nil
}

// createdUser is the user ensureUser made, removed by cleanup.
var createdUser string

// scratch is the scratch directory cleanup removes ("" with -keep).
var scratch string

func cleanup() {
	stopAll()
	if scratch != "" {
		os.RemoveAll(scratch)
		scratch = ""
	}
	if createdUser != "" {
		if out, err := exec.Command("userdel", "-r", createdUser).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "kplay-bench: userdel %s: %v: %s\n", createdUser, err, out)
		}
		createdUser = ""
	}
}

// ensureUser returns name's uid and gid, creating the user when missing.
func ensureUser(name string) (uid, gid int, err error) {
	if u, err := user.Lookup(name); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		return uid, gid, nil
	}
	if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("useradd %s: %v: %s", name, err, out)
	}
	createdUser = name
	// '*' rather than useradd's '!': sshd refuses key logins to locked accounts.
	if out, err := exec.Command("usermod", "-p", "*", name).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("usermod %s: %v: %s", name, err, out)
	}
	return ensureUser(name)
}

func fatal(err error) {
	cleanup()
	fmt.Fprintln(os.Stderr, "kplay-bench:", err)
	os.Exit(1)
}
