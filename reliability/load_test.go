package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"kplay/dsl"
	"kplay/dsl/inventory"
	"kplay/engine"
	"kplay/internal/sshdtest"
	_ "kplay/modules/all"
	"kplay/transport/local"
	kssh "kplay/transport/ssh"
)

type invAdapter struct{ inv *inventory.Inventory }

func (a invAdapter) Hosts(p string) ([]string, error) {
	hs, err := a.inv.Hosts(p)
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out, err
}
func (a invAdapter) HostVars(n string) map[string]any { return a.inv.HostVars(n) }
func (a invAdapter) Groups() map[string][]string      { return a.inv.Groups() }

// loadBook builds the 20 tasks of the load test: 17 commands whose output
// names the host and the step, a file, a template-free set_fact and a
// check of it.
func loadBook() string {
	var b strings.Builder
	b.WriteString("- hosts: all\n  gather_facts: false\n  tasks:\n")
	for i := 1; i <= 17; i++ {
		fmt.Fprintf(&b, "    - name: step %d\n      command: echo {{ inventory_hostname }}-%d\n", i, i)
	}
	b.WriteString(`    - name: file
      copy:
        content: "{{ inventory_hostname }}\n"
        dest: "{{ root }}/{{ inventory_hostname }}.txt"
    - name: fact
      set_fact:
        me: "{{ inventory_hostname }}"
    - name: check
      assert:
        that: "me == inventory_hostname"
`)
	return b.String()
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// vmHWM is the process's peak resident memory, from /proc.
func vmHWM() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}

// TestLoad: 200 hosts (one real sshd each, on loopback) times 20 tasks in
// one in-process run with 50 forks: every result is right, and afterwards
// the open file descriptors and goroutines are back to their count before
// the run. The peak Go heap and the process's peak RSS are logged.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 200 sshd servers")
	}
	const hosts, tasks = 200, 20
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
	key := sshdtest.NewUserKeyT(t)
	c := sshdtest.StartT(t, hosts, sshdtest.Config{AuthorizedKeys: []ssh.PublicKey{key.Public}})
	dir := t.TempDir()
	known := filepath.Join(dir, "known_hosts")
	if err := c.WriteKnownHosts(known); err != nil {
		t.Fatal(err)
	}
	var inv strings.Builder
	for i, s := range c.Servers {
		fmt.Fprintf(&inv, "h%03d ansible_host=%s ansible_port=%d ansible_user=root\n", i+1, s.Addr, s.Port)
	}
	invPath := writeFile(t, dir, "hosts.ini", inv.String())
	bookPath := writeFile(t, dir, "load.yml", loadBook())
	root := t.TempDir()

	pb, ds := dsl.LoadPlaybook(bookPath, engine.ModuleSchemas())
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	in, ds := inventory.Load([]string{invPath})
	if len(ds) > 0 {
		t.Fatal(ds)
	}

	runtime.GC()
	fdsBefore, grBefore := openFDs(t), runtime.NumGoroutine()

	// Sample the Go heap while the run goes.
	var peakHeap uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			metrics.Read(s)
			peakHeap = max(peakHeap, s[0].Value.Uint64())
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()

	var mu sync.Mutex
	results := map[string]engine.Event{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := engine.Run(ctx, engine.Options{
		Playbook:  pb,
		Inventory: invAdapter{in},
		Dialer: engine.Dialers{"local": local.Dialer{}, "ssh": kssh.NewDialer(kssh.Config{
			KeyFiles: []string{key.Path}, KnownHostsFiles: []string{known},
			Home: dir, SSHConfigFile: "none", Agent: "none",
		})},
		Forks:     50,
		ExtraVars: map[string]any{"root": root},
		Events: func(e engine.Event) {
			if e.Type == engine.EvHostResult {
				mu.Lock()
				results[e.Task+"|"+e.Host] = e
				mu.Unlock()
			}
		},
	})
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if code := out.ExitCode(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if len(results) != hosts*tasks {
		t.Errorf("%d results, want %d", len(results), hosts*tasks)
	}
	for i := 1; i <= hosts; i++ {
		h := fmt.Sprintf("h%03d", i)
		for s := 1; s <= 17; s++ {
			e := results[fmt.Sprintf("step %d|%s", s, h)]
			if e.Status != engine.StatusChanged || strings.TrimSpace(e.Stdout) != h+"-"+strconv.Itoa(s) {
				t.Errorf("step %d on %s: %s %q", s, h, e.Status, e.Stdout)
			}
		}
		for task, want := range map[string]engine.Status{"file": engine.StatusChanged, "fact": engine.StatusOK, "check": engine.StatusOK} {
			if e := results[task+"|"+h]; e.Status != want {
				t.Errorf("%s on %s: %s %s", task, h, e.Status, e.Msg)
			}
		}
		if b, err := os.ReadFile(filepath.Join(root, h+".txt")); err != nil || string(b) != h+"\n" {
			t.Errorf("%s.txt = %q, %v", h, b, err)
		}
	}
	for _, s := range out.Stats {
		if s.OK != tasks || s.Changed != 18 || s.Failed+s.Unreachable != 0 {
			t.Errorf("recap %+v", s)
		}
	}

	// Connections close when Run returns; their goroutines and sockets end
	// a moment later.
	var fds, grs int
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		fds, grs = openFDs(t), runtime.NumGoroutine()
		if (fds <= fdsBefore && grs <= grBefore) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if fds > fdsBefore {
		t.Errorf("open file descriptors: %d before the run, %d after", fdsBefore, fds)
	}
	if grs > grBefore {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before the run, %d after:\n%s", grBefore, grs, buf[:runtime.Stack(buf, true)])
	}
	t.Logf("%d hosts x %d tasks: %s, peak Go heap %.1f MiB, process peak RSS %s (test binary and all), fds %d->%d, goroutines %d->%d",
		hosts, tasks, elapsed.Round(10*time.Millisecond), float64(peakHeap)/(1<<20), vmHWM(), fdsBefore, fds, grBefore, grs)
}
