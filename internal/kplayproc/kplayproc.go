// Package kplayproc runs the kplay binary for tests that drive it as a user
// would (the fault tests on loopback sshd and on the lab) and reads what it
// printed with --output json.
package kplayproc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"kplay/engine"
)

// Run is one kplay process.
type Run struct {
	Cmd    *exec.Cmd
	Stdout bytes.Buffer
	Stderr bytes.Buffer
	// Code is the exit code, -1 if kplay could not be waited for; valid
	// once Done is closed.
	Code int
	done chan struct{}
}

// Start starts bin with args. The process is killed in t.Cleanup should
// the test end before it does.
func Start(t testing.TB, bin string, args ...string) *Run {
	t.Helper()
	r := &Run{Cmd: exec.Command(bin, args...), done: make(chan struct{})}
	r.Cmd.Stdout, r.Cmd.Stderr = &r.Stdout, &r.Stderr
	if err := r.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := r.Cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			r.Code = ee.ExitCode()
		default:
			r.Code = -1
		}
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.Cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// Done is closed when the process has ended and Code is set.
func (r *Run) Done() <-chan struct{} { return r.done }

// Wait waits for kplay to end. A hang is one of the faults these tests
// look for: after limit the test fails with kplay's goroutines (SIGQUIT
// makes Go print them to stderr).
func (r *Run) Wait(t testing.TB, limit time.Duration) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(limit):
		r.Cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(time.Second)
		r.Cmd.Process.Kill()
		<-r.done
		t.Fatalf("kplay hung for %s; stderr:\n%s", limit, r.Stderr.String())
	}
}

func (r *Run) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout.String(), r.Stderr.String())
}

// Events parses standard output as --output json events, one a line.
func (r *Run) Events(t testing.TB) []engine.Event {
	t.Helper()
	var evs []engine.Event
	sc := bufio.NewScanner(bytes.NewReader(r.Stdout.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e engine.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("output line is not a JSON event: %v\n%s", err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

// Recap maps each host to its PLAY RECAP line, which must be the last event.
func (r *Run) Recap(t testing.TB) map[string]engine.HostStats {
	t.Helper()
	evs := r.Events(t)
	if len(evs) == 0 || evs[len(evs)-1].Type != engine.EvRecap {
		t.Fatalf("no recap at the end of the output:\n%s", r)
	}
	m := map[string]engine.HostStats{}
	for _, s := range evs[len(evs)-1].Recap {
		m[s.Host] = s
	}
	return m
}

// WantRecap compares the recap with want, host by host and field by field.
func (r *Run) WantRecap(t testing.TB, want map[string]engine.HostStats) {
	t.Helper()
	got := r.Recap(t)
	for h, w := range want {
		w.Host = h
		if g := got[h]; g != w {
			t.Errorf("recap %s: got %+v, want %+v", h, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("recap has %d hosts, want %d: %+v", len(got), len(want), got)
	}
}

// Results maps "task|host" to that host's result event.
func (r *Run) Results(t testing.TB) map[string]engine.Event {
	t.Helper()
	m := map[string]engine.Event{}
	for _, e := range r.Events(t) {
		if e.Type == engine.EvHostResult {
			m[e.Task+"|"+e.Host] = e
		}
	}
	return m
}

// Result is the result event of task on host; the test fails without one.
func (r *Run) Result(t testing.TB, task, host string) engine.Event {
	t.Helper()
	e, ok := r.Results(t)[task+"|"+host]
	if !ok {
		t.Fatalf("no result of %q on %s:\n%s", task, host, r)
	}
	return e
}

// WaitFor polls cond until it holds, failing the test after d.
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
