package k8s_leader

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"kplay/internal/apiservertest"
	"kplay/modules"
)

var labHosts = []modules.HostRef{
	{Name: "kcm-1", Address: "198.18.0.11"},
	{Name: "kcm-2", Address: "198.18.0.12"},
	{Name: "kcm-3", Address: "198.18.0.13"},
}

type outcome struct {
	failed  bool
	skipped string
	msg     string
	data    map[string]any
	err     error
}

func run(t *testing.T, raw map[string]any, check bool) outcome {
	t.Helper()
	args, errs := modules.Normalize(Module{}.Info(), raw)
	if len(errs) > 0 {
		t.Fatalf("Normalize: %v", errs)
	}
	if err := (Module{}).CheckArgs(args); err != nil {
		t.Fatalf("CheckArgs: %v", err)
	}
	// The module must never hang: a minute is far beyond any timeout used here.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &modules.Call{Host: "kcm-1", Args: args, Check: check, Hosts: labHosts}
	p, err := Module{}.Plan(ctx, c)
	if err != nil {
		return outcome{err: err}
	}
	if p.Changed {
		t.Fatal("k8s_leader planned a change")
	}
	if check {
		return outcome{skipped: p.SkipInCheck, msg: p.Msg, data: p.Data}
	}
	if p.Apply == nil {
		return outcome{failed: p.Failed, msg: p.Msg, data: p.Data}
	}
	r, err := p.Apply(ctx)
	if err != nil {
		return outcome{err: err}
	}
	if r.Changed {
		t.Fatal("k8s_leader changed something")
	}
	return outcome{failed: r.Failed, msg: r.Msg, data: r.Data}
}

// candidate is a real leader-election participant, as kube-controller-manager
// runs one: it does not release the lease when it stops.
type candidate struct {
	id      string
	leading atomic.Bool
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func startCandidate(t *testing.T, cfg *rest.Config, host, name string) *candidate {
	t.Helper()
	cl, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &candidate{id: host + "_" + string(uuid.NewUUID())}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: name},
		Client:     cl,
		LockConfig: resourcelock.ResourceLockConfig{Identity: c.id},
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: 3 * time.Second,
		RenewDeadline: 2 * time.Second,
		RetryPeriod:   500 * time.Millisecond,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) { c.leading.Store(true) },
			OnStoppedLeading: func() { c.leading.Store(false) },
		},
		Name: c.id,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done.Add(1)
	go func() { defer c.done.Done(); le.Run(ctx) }()
	t.Cleanup(c.stop)
	return c
}

func (c *candidate) stop() {
	c.cancel()
	c.done.Wait()
}

// waitLeading polls until the candidate leads; a condition, not a timing.
func (c *candidate) waitLeading(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !c.leading.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("candidate %s did not become leader within a minute", c.id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAgainstAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	srv := apiservertest.Start(t)
	admin := srv.RESTConfig(t, apiservertest.AdminContext)
	args := func(kv ...any) map[string]any {
		m := map[string]any{"kubeconfig": srv.Kubeconfig, "request_timeout": 5, "poll": "200ms"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}

	a := startCandidate(t, admin, "kcm-1", "kube-controller-manager")
	a.waitLeading(t)
	var b *candidate

	t.Run("holder found and mapped", func(t *testing.T) {
		o := run(t, args(), false)
		if o.err != nil {
			t.Fatal(o.err)
		}
		d := o.data
		if d["holder"] != a.id || d["host"] != "kcm-1" || d["fresh"] != true || d["lease_duration"] != 3 ||
			d["lock"] != "leases/kube-system/kube-controller-manager" || d["transitions"] != 0 {
			t.Fatalf("registered %v", d)
		}
		for _, k := range []string{"acquire_time", "renew_time"} {
			if _, err := time.Parse(time.RFC3339Nano, d[k].(string)); err != nil {
				t.Errorf("%s: %v", k, err)
			}
		}
		if !strings.Contains(o.msg, "held by "+a.id+" (kcm-1)") {
			t.Errorf("msg %q", o.msg)
		}
	})

	t.Run("check mode does not wait", func(t *testing.T) {
		o := run(t, args("wait_for_change_from", a.id), true)
		if o.err != nil || !strings.Contains(o.skipped, "would wait up to 2m0s for leases/kube-system/kube-controller-manager to pass from "+a.id) {
			t.Fatalf("err %v skipped %q", o.err, o.skipped)
		}
	})

	t.Run("wait times out while the holder stays", func(t *testing.T) {
		o := run(t, args("wait_for_change_from", "kcm-1", "timeout", "1s"), false)
		if o.err != nil || !o.failed || !strings.Contains(o.msg, "timeout after 1s") {
			t.Fatalf("err %v failed %v msg %q", o.err, o.failed, o.msg)
		}
	})

	t.Run("wait_for_change_from returns the new holder", func(t *testing.T) {
		b = startCandidate(t, admin, "kcm-2", "kube-controller-manager")
		a.stop() // as KCM does: the lease is not released, it expires
		o := run(t, args("wait_for_change_from", a.id, "timeout", 60), false)
		if o.err != nil || o.failed {
			t.Fatalf("err %v msg %q", o.err, o.msg)
		}
		d := o.data
		if d["holder"] != b.id || d["host"] != "kcm-2" || d["fresh"] != true || d["previous"] != a.id || d["transitions"] != 1 {
			t.Fatalf("registered %v", d)
		}
		if w, ok := d["waited"].(float64); !ok || w < 0 {
			t.Fatalf("waited %v", d["waited"])
		}
		// Asked with the old host's name, the change is already there.
		o = run(t, args("wait_for_change_from", "kcm-1"), false)
		if o.err != nil || o.data["holder"] != b.id || !strings.HasPrefix(o.msg, "already changed") {
			t.Fatalf("by host name: err %v msg %q", o.err, o.msg)
		}
	})

	t.Run("a stale lease is not fresh", func(t *testing.T) {
		cl, err := coordinationv1client.NewForConfig(admin)
		if err != nil {
			t.Fatal(err)
		}
		holder, dur := "kcm-3_0f8d6a", int32(15)
		old := metav1.NewMicroTime(time.Now().Add(-time.Hour))
		_, err = cl.Leases("kube-system").Create(context.Background(), &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "stale-lock", Namespace: "kube-system"},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, AcquireTime: &old, RenewTime: &old},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		o := run(t, args("name", "stale-lock"), false)
		if o.err != nil || o.data["fresh"] != false || o.data["host"] != "kcm-3" || !strings.Contains(o.msg, "stale") {
			t.Fatalf("err %v data %v msg %q", o.err, o.data, o.msg)
		}
		// A stale holder other than the old one is no change.
		o = run(t, args("name", "stale-lock", "wait_for_change_from", "kcm-1", "timeout", "1s"), false)
		if o.err != nil || !o.failed {
			t.Fatalf("stale counted as a change: err %v msg %q", o.err, o.msg)
		}
	})

	t.Run("endpoints annotation fallback", func(t *testing.T) {
		core, err := corev1client.NewForConfig(admin)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Format(time.RFC3339)
		rec := fmt.Sprintf(`{"holderIdentity":"kcm-2_d3c4","leaseDurationSeconds":15,"acquireTime":%q,"renewTime":%q,"leaderTransitions":4}`, now, now)
		_, err = core.Endpoints("kube-system").Create(context.Background(), &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: "old-kcm", Namespace: "kube-system", Annotations: map[string]string{LeaderAnnotation: rec}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		o := run(t, args("name", "old-kcm"), false)
		if o.err != nil || o.data["lock"] != "endpoints/kube-system/old-kcm" || o.data["holder"] != "kcm-2_d3c4" || o.data["host"] != "kcm-2" || o.data["transitions"] != 4 || o.data["fresh"] != true {
			t.Fatalf("err %v data %v", o.err, o.data)
		}
	})

	closed := filepath.Join(t.TempDir(), "unreachable.kubeconfig")
	if err := srv.WriteKubeconfig(closed, apiservertest.ClosedURL(t)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"forbidden", args("context", apiservertest.NobodyContext), `forbidden by RBAC: kubeconfig user "nobody" may not get leases in namespace kube-system`},
		{"missing", args("name", "no-such-lock"), "no leader-election lock kube-system/no-such-lock: no Lease, and no Endpoints with the annotation"},
		{"missing lease only", args("name", "no-such-lock", "lock", "leases"), "no leader-election lock leases/kube-system/no-such-lock: not found"},
		{"endpoints without annotation", args("name", "kube-controller-manager", "lock", "endpoints"), "no leader-election lock endpoints/kube-system/kube-controller-manager: not found"},
		{"unreachable", map[string]any{"kubeconfig": closed, "request_timeout": 5}, "cannot reach the apiserver at https://127.0.0.1:"},
		{"unknown context", args("context", "nope"), `context "nope" does not exist`},
		{"missing kubeconfig", map[string]any{"kubeconfig": "/nonexistent/kubeconfig"}, "kubeconfig /nonexistent/kubeconfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, tc.args, false)
			if o.err == nil || !strings.Contains(o.err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", o.err, tc.want)
			}
		})
	}
}

func TestHostOf(t *testing.T) {
	hosts := append(labHosts, modules.HostRef{Name: "master.lab.example", Address: "10.0.0.9"})
	for _, tc := range []struct{ holder, want string }{
		{"kcm-1_8c1f0bd5-7a7e-4bd0-9f44-1d2a3b4c5d6e", "kcm-1"},
		{"198.18.0.12_8c1f", "kcm-2"},
		{"KCM-3_x", "kcm-3"},
		{"kcm-3.lab_x", "kcm-3"},
		{"master_x", "master.lab.example"},
		{"10.0.0.9_x", "master.lab.example"},
		{"kcm-1", "kcm-1"},
		{"other_x", ""},
		{"", ""},
		{"_x", ""},
	} {
		t.Run(tc.holder, func(t *testing.T) {
			if got := HostOf(tc.holder, hosts); got != tc.want {
				t.Fatalf("HostOf(%q) = %q, want %q", tc.holder, got, tc.want)
			}
		})
	}
}

func TestParseAnnotation(t *testing.T) {
	for _, tc := range []struct {
		in      string
		holder  string
		wantErr string
	}{
		{`{"holderIdentity":"a_1","leaseDurationSeconds":15,"acquireTime":"2026-11-25T03:00:00Z","renewTime":"2026-11-25T03:00:10Z","leaderTransitions":2}`, "a_1", ""},
		{`{"holderIdentity":"","leaseDurationSeconds":15}`, "", ""},
		{`{"holderIdentity":"a","renewTime":"yesterday"}`, "", "not a leader-election record"},
		{`{"leaseDurationSeconds":-1}`, "", "negative"},
		{`holder`, "", "not a leader-election record"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseAnnotation(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || r.Holder != tc.holder {
				t.Fatalf("r %+v err %v", r, err)
			}
		})
	}
	r, _ := ParseAnnotation(`{"holderIdentity":"a_1","leaseDurationSeconds":15,"renewTime":"2026-11-25T03:00:10Z"}`)
	if at := time.Date(2026, 11, 25, 3, 0, 20, 0, time.UTC); !r.Fresh(at) || r.Fresh(at.Add(10*time.Second)) {
		t.Fatal("Fresh is wrong around renewTime + leaseDuration")
	}
}

func FuzzParseAnnotation(f *testing.F) {
	f.Add(`{"holderIdentity":"a_1","leaseDurationSeconds":15,"acquireTime":"2026-11-25T03:00:00Z","renewTime":"2026-11-25T03:00:10Z","leaderTransitions":2}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseAnnotation(s)
		if err == nil && (r.LeaseDuration < 0 || r.Transitions < 0) {
			t.Fatalf("accepted negative values: %+v", r)
		}
		HostOf(r.Holder, labHosts)
	})
}

func TestBadArgs(t *testing.T) {
	for _, raw := range []map[string]any{{"timeout": 0}, {"poll": 0}, {"name": ""}} {
		args, errs := modules.Normalize(Module{}.Info(), raw)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if err := (Module{}).CheckArgs(args); err == nil {
			t.Errorf("CheckArgs(%v) accepted", raw)
		}
	}
}

func TestInfoDocumentsEveryArg(t *testing.T) {
	info := Module{}.Info()
	if info.RunsOn != modules.OnController || info.Summary == "" || info.Doc == "" || info.CheckMode == "" || info.Returns == "" {
		t.Fatalf("incomplete Info: %+v", info)
	}
	for _, a := range info.Args {
		if a.Doc == "" || a.Type == "" {
			t.Errorf("argument %q lacks a type or doc", a.Name)
		}
	}
	if _, ok := modules.Lookup("k8s_leader"); !ok {
		t.Fatal("not registered")
	}
}

// TestAPIServerGoneWhileWaiting: the apiserver stops answering while the
// task waits for the leader to change, first frozen (SIGSTOP: connections
// are accepted, nothing is answered), then stopped by its pid. Either way
// the task must come back on its own after its timeout, failed, saying it
// timed out and why the lock could not be read; never hang.
func TestAPIServerGoneWhileWaiting(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	srv := apiservertest.Start(t)
	a := startCandidate(t, srv.RESTConfig(t, apiservertest.AdminContext), "kcm-1", "kube-controller-manager")
	a.waitLeading(t)
	pid := srv.APIServerPid()
	for _, tc := range []struct {
		name  string
		fault func(t *testing.T)
		// after undoes the fault once the task is back, if it can be undone.
		after func(t *testing.T)
	}{
		{"frozen", func(t *testing.T) {
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T) { syscall.Kill(pid, syscall.SIGCONT) }},
		{"stopped", func(t *testing.T) { srv.StopAPIServer(t, syscall.SIGTERM) }, func(*testing.T) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const timeout = 8 * time.Second
			args, errs := modules.Normalize(Module{}.Info(), map[string]any{
				"kubeconfig": srv.Kubeconfig, "wait_for_change_from": a.id,
				"timeout": "8s", "poll": "200ms", "request_timeout": "2s",
			})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			c := &modules.Call{Host: "kcm-1", Args: args, Hosts: labHosts}
			// No deadline of the test's on the context: only the module's
			// own timeout may end the wait.
			ctx := context.Background()
			p, err := Module{}.Plan(ctx, c)
			if err != nil || p.Apply == nil {
				t.Fatalf("plan: %v, %+v; want a wait", err, p)
			}
			type res struct {
				r   *modules.Result
				err error
			}
			done := make(chan res, 1)
			go func() {
				r, err := p.Apply(ctx)
				done <- res{r, err}
			}()
			// Let it poll a few times against a healthy apiserver first.
			time.Sleep(time.Second)
			tc.fault(t)
			defer tc.after(t)
			var got res
			select {
			case got = <-done:
			case <-time.After(timeout + time.Minute):
				t.Fatalf("k8s_leader still waiting a minute after its %s timeout: it hangs when the apiserver is %s", timeout, tc.name)
			}
			if got.err != nil {
				t.Fatalf("error %v, want a failed result", got.err)
			}
			for _, want := range []string{"timeout after 8s", "did not pass from " + a.id, "last error: cannot reach the apiserver at " + srv.URL} {
				if !got.r.Failed || !strings.Contains(got.r.Msg, want) {
					t.Errorf("failed=%v msg %q, want it to say %q", got.r.Failed, got.r.Msg, want)
				}
			}
			t.Logf("%s: %s", tc.name, got.r.Msg)
		})
	}
}
