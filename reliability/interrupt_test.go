package reliability

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"kplay/engine"
	"kplay/internal/sshdtest"
)

// sleepBook: a first task, then a command that sleeps on every host.
const sleepBook = `- hosts: all
  gather_facts: false
  tasks:
    - name: first
      copy:
        content: "one\n"
        dest: "{{ root }}/{{ inventory_hostname }}/one.txt"
    - name: sleeper
      shell: "sleep {{ nap }} ; echo woke > {{ root }}/{{ inventory_hostname }}/woke"
    - name: never reached
      shell: "echo no"
`

// TestInterrupt: SIGINT (Ctrl-C) to kplay while every host runs a long
// command. The commands are killed on the hosts (the sleep is gone from the
// process list and never writes its marker), the connections are closed
// (no per-connection sshd left), a recap of what ran is printed, and the
// exit code is 99, ansible-playbook's for an interrupted run.
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	for _, output := range []string{"json", "text"} {
		t.Run(output, func(t *testing.T) {
			f := newFleet(t, 3)
			book := writeFile(t, t.TempDir(), "site.yml", sleepBook)
			inv := f.inventory(t)
			nap := napFor(t)
			r := startKplay(t, book, "-i", inv, "--output", output, "-e", "root="+f.root, "-e", "nap="+nap)
			waitFor(t, "the sleeps on all hosts", time.Minute, func() bool {
				return len(processesWithArg("sleep\x00"+nap)) == 3
			})
			if err := r.Cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			r.Wait(t, hangLimit)
			if r.Code != 99 {
				t.Fatalf("want exit 99:\n%s", r)
			}
			if output == "json" {
				wantRecap(t, r, map[string]engine.HostStats{
					"host1": {OK: 1, Changed: 1},
					"host2": {OK: 1, Changed: 1},
					"host3": {OK: 1, Changed: 1},
				})
			} else {
				out := r.Stdout.String()
				i := strings.Index(out, "PLAY RECAP")
				if i < 0 {
					t.Fatalf("no PLAY RECAP:\n%s", out)
				}
				for _, want := range []string{"host1 ", "host2 ", "host3 ", "ok=1    changed=1", "interrupted: [host1]"} {
					if !strings.Contains(out, want) {
						t.Errorf("text output lacks %q:\n%s", want, out)
					}
				}
				if strings.Contains(out, "never reached") {
					t.Errorf("a task started after the interrupt:\n%s", out)
				}
			}
			if !strings.Contains(r.Stderr.String(), "interrupted") {
				t.Errorf("stderr does not say interrupted: %q", r.Stderr.String())
			}
			// kplay has exited: whatever is left on the hosts' side now
			// stays. Give sshd the moment it needs to reap a closed
			// connection, then look.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) && (len(processesWithArg("sleep\x00"+nap)) > 0 || sessions(f.c) > 0) {
				time.Sleep(10 * time.Millisecond)
			}
			if p := processesWithArg("sleep\x00" + nap); len(p) > 0 {
				t.Errorf("commands still run on the hosts: pids %v", p)
			}
			if n := sessions(f.c); n > 0 {
				t.Errorf("%d sshd connection processes remain", n)
			}
			for _, s := range f.c.Servers {
				if l := leftovers(t, f.root+"/"+s.Name, "one.txt"); len(l) > 0 {
					t.Errorf("%s: %v", s.Name, l)
				}
			}
		})
	}
}

// sessions counts processes below the listening sshd servers: one or more
// per open connection.
func sessions(c *sshdtest.Cluster) int {
	n := 0
	for _, s := range c.Servers {
		n += len(sshdtest.Descendants(s.Pid()))
	}
	return n
}
