// Package k8s_leader is the k8s_leader module: who holds a Kubernetes
// leader-election lock, which inventory host that is, and waiting for it to
// change.
package k8s_leader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"kplay/modules"
)

func init() {
	// client-go logs through klog to stderr (throttling, retries). Every
	// failure it has is returned to the module and reported with the task;
	// its log lines would only break kplay's output.
	klog.SetLogger(logr.Discard())
	modules.Register(Module{})
}

// Module implements k8s_leader.
type Module struct{}

var (
	_ modules.Module      = Module{}
	_ modules.ArgsChecker = Module{}
)

// LeaderAnnotation is where clusters before Kubernetes 1.20 kept the
// leader-election record, on an Endpoints (or ConfigMap) object.
const LeaderAnnotation = "control-plane.alpha.kubernetes.io/leader"

// Info documents the module for `kplay doc`.
func (Module) Info() modules.Info {
	return modules.Info{
		Name:    "k8s_leader",
		Summary: "Report (or wait for a change of) the holder of a Kubernetes leader-election lock",
		Doc: `Reads a leader-election lock through the Kubernetes API from the control
machine, with a kubeconfig: by default the Lease kube-system/kube-controller-manager
(coordination.k8s.io/v1), and when there is no such Lease, the annotation
control-plane.alpha.kubernetes.io/leader on the Endpoints object of the same name,
where clusters older than 1.20 keep it.

The holder identity of kube-controller-manager and kube-scheduler is
<hostname>_<uuid>; host is the inventory host whose name or address (ansible_host)
is the part before the last "_" (or whose name is its first DNS label). fresh says
the holder renewed the lock within its lease duration, by this machine's clock.

With wait_for_change_from, the task polls until a fresh holder other than that
one holds the lock, or fails after timeout. The value may be a holder identity
(a registered result's holder) or an inventory host name (its host).

A missing lock, a request RBAC forbids, a rejected credential and an apiserver
that cannot be reached each fail with their own message. No request waits longer
than request_timeout.`,
		CheckMode: "reads the lock; with wait_for_change_from, checks once and is skipped if the holder has not changed yet",
		Returns: `holder (holderIdentity); host (inventory host, "" if none matches); acquire_time and
renew_time (RFC 3339); lease_duration (seconds); transitions; fresh (bool); lock
(leases/NS/NAME or endpoints/NS/NAME); with wait_for_change_from also previous and
waited (seconds)`,
		RunsOn: modules.OnController,
		Args: []modules.Arg{
			{Name: "kubeconfig", Type: modules.String,
				Doc: "kubeconfig file; default $KUBECONFIG, then ~/.kube/config; relative to the playbook's directory"},
			{Name: "context", Type: modules.String, Doc: "kubeconfig context; default its current-context"},
			{Name: "namespace", Type: modules.String, Default: "kube-system", Doc: "namespace of the lock"},
			{Name: "name", Type: modules.String, Default: "kube-controller-manager", Doc: "name of the Lease (or Endpoints)"},
			{Name: "lock", Type: modules.String, Default: "auto", Choices: []string{"auto", "leases", "endpoints"},
				Doc: "where the record is: auto tries the Lease, then the Endpoints annotation"},
			{Name: "wait_for_change_from", Type: modules.String,
				Doc: "wait until a fresh holder other than this holder identity or inventory host holds the lock"},
			{Name: "timeout", Type: modules.Duration, Default: 120, Doc: "limit for wait_for_change_from"},
			{Name: "poll", Type: modules.Duration, Default: 1, Doc: "interval between reads while waiting"},
			{Name: "request_timeout", Type: modules.Duration, Default: 10, Doc: "limit for one API request"},
		},
	}
}

// CheckArgs checks durations.
func (Module) CheckArgs(a modules.Args) error {
	if a.Dur("timeout") <= 0 || a.Dur("request_timeout") <= 0 || a.Dur("poll") <= 0 {
		return errors.New("k8s_leader: timeout, poll and request_timeout must be positive")
	}
	if a.Str("namespace") == "" || a.Str("name") == "" {
		return errors.New("k8s_leader: namespace and name must not be empty")
	}
	return nil
}

// Record is a leader-election record as the Lease or annotation holds it.
type Record struct {
	Lock          string
	Holder        string
	LeaseDuration time.Duration
	AcquireTime   time.Time
	RenewTime     time.Time
	Transitions   int
}

// Fresh says the holder renewed within its lease duration.
func (r Record) Fresh(now time.Time) bool {
	return r.Holder != "" && !r.RenewTime.IsZero() && now.Before(r.RenewTime.Add(r.LeaseDuration))
}

// ErrNoLock says neither a Lease nor an annotated Endpoints object exists.
var ErrNoLock = errors.New("no leader-election lock")

// client reads locks from one apiserver.
type client struct {
	server     string
	user       string
	leases     *rest.RESTClient // coordination.k8s.io/v1
	core       *rest.RESTClient // v1
	reqTimeout time.Duration
	ns, name   string
	mode       string
}

func newClient(c *modules.Call) (*client, error) {
	a := c.Args
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if p := a.Str("kubeconfig"); p != "" {
		if !filepath.IsAbs(p) && c.Dir != "" {
			p = path.Join(c.Dir, p)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", p, err)
		}
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: p}
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: a.Str("context")})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	raw, _ := loader.RawConfig()
	user := ""
	ctxName := a.Str("context")
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	if kc := raw.Contexts[ctxName]; kc != nil {
		user = kc.AuthInfo
	}
	cfg.Timeout = a.Dur("request_timeout")
	// Deprecation warnings (v1 Endpoints) would go to stderr.
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.UserAgent = "kplay k8s_leader"
	leases, err := restClient(cfg, coordinationv1.SchemeGroupVersion, "/apis")
	if err != nil {
		return nil, err
	}
	core, err := restClient(cfg, corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	return &client{server: cfg.Host, user: user, leases: leases, core: core, reqTimeout: cfg.Timeout,
		ns: a.Str("namespace"), name: a.Str("name"), mode: a.Str("lock")}, nil
}

// lockCodecs decode the two kinds of object the module reads, and the
// Status an apiserver answers errors with. A scheme of its own, built on
// first use, instead of client-go's typed clientset: that one registers
// every API group of Kubernetes when kplay starts (init), which cost every
// kplay run about 8 ms of CPU and 19 MB of binary for two GET requests.
var lockCodecs = sync.OnceValues(func() (serializer.CodecFactory, error) {
	s := runtime.NewScheme()
	if err := errors.Join(coordinationv1.AddToScheme(s), corev1.AddToScheme(s)); err != nil {
		return serializer.CodecFactory{}, err
	}
	return serializer.NewCodecFactory(s), nil
})

// restClient is a REST client for one API group version, set up as
// client-go's typed clients set theirs up.
func restClient(cfg *rest.Config, gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
	codecs, err := lockCodecs()
	if err != nil {
		return nil, err
	}
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &gv
	c.APIPath = apiPath
	c.NegotiatedSerializer = codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientFor(c)
}

// read gets the record once.
func (cl *client) read(ctx context.Context) (Record, error) {
	if cl.mode != "endpoints" {
		r, err := cl.readLease(ctx)
		if err == nil || cl.mode == "leases" || !errors.Is(err, ErrNoLock) {
			return r, err
		}
	}
	r, err := cl.readEndpoints(ctx)
	if errors.Is(err, ErrNoLock) && cl.mode == "auto" {
		return r, fmt.Errorf("%w %s/%s: no Lease, and no Endpoints with the annotation %s (is the component running with --leader-elect?)",
			ErrNoLock, cl.ns, cl.name, LeaderAnnotation)
	}
	return r, err
}

func (cl *client) readLease(ctx context.Context) (Record, error) {
	ctx, cancel := context.WithTimeout(ctx, cl.reqTimeout)
	defer cancel()
	lock := "leases/" + cl.ns + "/" + cl.name
	l := &coordinationv1.Lease{}
	err := cl.leases.Get().Namespace(cl.ns).Resource("leases").Name(cl.name).Do(ctx).Into(l)
	if err != nil {
		return Record{}, cl.explain(err, "leases", lock)
	}
	r := Record{Lock: lock}
	s := l.Spec
	if s.HolderIdentity != nil {
		r.Holder = *s.HolderIdentity
	}
	if s.LeaseDurationSeconds != nil {
		r.LeaseDuration = time.Duration(*s.LeaseDurationSeconds) * time.Second
	}
	if s.AcquireTime != nil {
		r.AcquireTime = s.AcquireTime.Time
	}
	if s.RenewTime != nil {
		r.RenewTime = s.RenewTime.Time
	}
	if s.LeaseTransitions != nil {
		r.Transitions = int(*s.LeaseTransitions)
	}
	return r, nil
}

func (cl *client) readEndpoints(ctx context.Context) (Record, error) {
	ctx, cancel := context.WithTimeout(ctx, cl.reqTimeout)
	defer cancel()
	lock := "endpoints/" + cl.ns + "/" + cl.name
	ep := &corev1.Endpoints{}
	err := cl.core.Get().Namespace(cl.ns).Resource("endpoints").Name(cl.name).Do(ctx).Into(ep)
	if err != nil {
		return Record{}, cl.explain(err, "endpoints", lock)
	}
	v, ok := ep.Annotations[LeaderAnnotation]
	if !ok {
		return Record{}, fmt.Errorf("%w %s: the object has no annotation %s", ErrNoLock, lock, LeaderAnnotation)
	}
	r, err := ParseAnnotation(v)
	if err != nil {
		return Record{}, fmt.Errorf("%s: annotation %s: %w", lock, LeaderAnnotation, err)
	}
	r.Lock = lock
	return r, nil
}

// ParseAnnotation reads the JSON leader-election record of the annotation.
func ParseAnnotation(v string) (Record, error) {
	var rec struct {
		HolderIdentity       string       `json:"holderIdentity"`
		LeaseDurationSeconds int          `json:"leaseDurationSeconds"`
		AcquireTime          *metav1.Time `json:"acquireTime"`
		RenewTime            *metav1.Time `json:"renewTime"`
		LeaderTransitions    int          `json:"leaderTransitions"`
	}
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		return Record{}, fmt.Errorf("not a leader-election record: %w", err)
	}
	if rec.LeaseDurationSeconds < 0 || rec.LeaderTransitions < 0 {
		return Record{}, errors.New("not a leader-election record: negative duration or transitions")
	}
	r := Record{Holder: rec.HolderIdentity, LeaseDuration: time.Duration(rec.LeaseDurationSeconds) * time.Second, Transitions: rec.LeaderTransitions}
	if rec.AcquireTime != nil {
		r.AcquireTime = rec.AcquireTime.Time
	}
	if rec.RenewTime != nil {
		r.RenewTime = rec.RenewTime.Time
	}
	return r, nil
}

// explain turns an API error into one of the errors the module documents.
func (cl *client) explain(err error, resource, lock string) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w %s: not found", ErrNoLock, lock)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("forbidden by RBAC: kubeconfig user %q may not get %s in namespace %s: %v", cl.user, resource, cl.ns, apiMessage(err))
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("unauthorized: the apiserver %s rejected the credentials of kubeconfig user %q: %v", cl.server, cl.user, apiMessage(err))
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return fmt.Errorf("apiserver %s: get %s: %v", cl.server, lock, err)
	}
	var netErr net.Error
	var opErr *net.OpError
	if errors.As(err, &opErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach the apiserver at %s: %v", cl.server, err)
	}
	return fmt.Errorf("apiserver %s: get %s: %v", cl.server, lock, err)
}

func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}

// HostOf maps a holder identity to an inventory host: the part before the
// last "_" (kube-controller-manager's is <hostname>_<uuid>) equals a host's
// name or address, or, failing that, the first DNS label of a host's name.
func HostOf(holder string, hosts []modules.HostRef) string {
	if holder == "" {
		return ""
	}
	id := holder
	if i := strings.LastIndex(id, "_"); i > 0 {
		id = id[:i]
	}
	for _, h := range hosts {
		if strings.EqualFold(h.Name, id) || h.Address != "" && strings.EqualFold(h.Address, id) {
			return h.Name
		}
	}
	short, _, _ := strings.Cut(id, ".")
	for _, h := range hosts {
		hs, _, _ := strings.Cut(h.Name, ".")
		if strings.EqualFold(hs, short) {
			return h.Name
		}
	}
	return ""
}

func data(r Record, hosts []modules.HostRef, now time.Time) map[string]any {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"holder":         r.Holder,
		"host":           HostOf(r.Holder, hosts),
		"acquire_time":   ts(r.AcquireTime),
		"renew_time":     ts(r.RenewTime),
		"lease_duration": int(r.LeaseDuration / time.Second),
		"transitions":    r.Transitions,
		"fresh":          r.Fresh(now),
		"lock":           r.Lock,
	}
}

// changedFrom says whether r has a fresh holder other than prev (a holder
// identity or an inventory host name).
func changedFrom(r Record, prev string, hosts []modules.HostRef, now time.Time) bool {
	if !r.Fresh(now) || r.Holder == prev {
		return false
	}
	if h := HostOf(r.Holder, hosts); h != "" && strings.EqualFold(h, prev) {
		return false
	}
	return true
}

// Plan reads the lock; Apply waits for a change when asked to.
func (Module) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	cl, err := newClient(c)
	if err != nil {
		return nil, fmt.Errorf("k8s_leader: %w", err)
	}
	r, err := cl.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("k8s_leader: %w", err)
	}
	now := time.Now()
	d := data(r, c.Hosts, now)
	prev, waiting := c.Args.Str("wait_for_change_from"), c.Args.Has("wait_for_change_from")
	if !waiting {
		return &modules.Plan{Data: d, Msg: describe(r, d)}, nil
	}
	d["previous"] = prev
	if changedFrom(r, prev, c.Hosts, now) {
		d["waited"] = 0.0
		return &modules.Plan{Data: d, Msg: "already changed: " + describe(r, d)}, nil
	}
	timeout := c.Args.Dur("timeout")
	if c.Check {
		return &modules.Plan{Data: d, SkipInCheck: fmt.Sprintf("would wait up to %s for %s to pass from %s (now %s)", timeout, r.Lock, prev, describe(r, d))}, nil
	}
	return &modules.Plan{Data: d, Apply: func(ctx context.Context) (*modules.Result, error) {
		return wait(ctx, c, cl, prev, timeout, r)
	}}, nil
}

func describe(r Record, d map[string]any) string {
	if r.Holder == "" {
		return r.Lock + ": no holder"
	}
	s := fmt.Sprintf("%s held by %s", r.Lock, r.Holder)
	if h := d["host"].(string); h != "" {
		s += " (" + h + ")"
	}
	if !d["fresh"].(bool) {
		s += fmt.Sprintf(", stale: last renewed %s", d["renew_time"])
	}
	return s
}

func wait(parent context.Context, c *modules.Call, cl *client, prev string, timeout time.Duration, last Record) (*modules.Result, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	poll := c.Args.Dur("poll")
	var lastErr error
	lastReport := start
	for {
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		r, err := cl.read(ctx)
		now := time.Now()
		if err != nil {
			// The apiserver may be restarting with the masters: keep
			// polling, and say what went wrong if time runs out (unless
			// the read only failed because time ran out).
			if ctx.Err() == nil {
				lastErr = err
			}
		} else {
			last, lastErr = r, nil
			if changedFrom(r, prev, c.Hosts, now) {
				d := data(r, c.Hosts, now)
				d["previous"] = prev
				d["waited"] = now.Sub(start).Round(time.Millisecond).Seconds()
				return &modules.Result{Data: d, Msg: fmt.Sprintf("%s after %s", describe(r, d), now.Sub(start).Round(time.Millisecond))}, nil
			}
		}
		if c.Progress != nil && now.Sub(lastReport) >= 10*time.Second {
			lastReport = now
			c.Progress(fmt.Sprintf("waiting for %s to pass from %s: %s of %s", last.Lock, prev, now.Sub(start).Round(time.Second), timeout))
		}
	}
	if parent.Err() != nil {
		return nil, fmt.Errorf("k8s_leader: interrupted while waiting: %w", parent.Err())
	}
	now := time.Now()
	d := data(last, c.Hosts, now)
	d["previous"] = prev
	d["waited"] = now.Sub(start).Round(time.Millisecond).Seconds()
	msg := fmt.Sprintf("timeout after %s: %s did not pass from %s to a fresh holder (last: %s)", timeout, last.Lock, prev, describe(last, d))
	if lastErr != nil {
		msg += "; last error: " + lastErr.Error()
	}
	return &modules.Result{Failed: true, Data: d, Msg: msg}, nil
}
