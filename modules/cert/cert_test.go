package cert

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kplay/modules"
	"kplay/transport"
	"kplay/transport/local"
)

// harness runs cert tasks against files in one temporary directory.
type harness struct {
	t    *testing.T
	dir  string
	conn transport.Conn
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, dir: t.TempDir(), conn: local.New("localhost")}
}

func (h *harness) call(raw map[string]any, check bool) *modules.Call {
	h.t.Helper()
	if _, ok := raw["dir"]; !ok {
		raw["dir"] = h.dir
	}
	args, errs := modules.Normalize(Module{}.Info(), raw)
	if len(errs) > 0 {
		h.t.Fatalf("Normalize(%v): %v", raw, errs)
	}
	if err := (Module{}).CheckArgs(args); err != nil {
		h.t.Fatalf("CheckArgs(%v): %v", raw, err)
	}
	return &modules.Call{Host: "kcm-1", Conn: h.conn, Local: h.conn, Args: args, Check: check}
}

// run plans and, outside check mode, applies; it returns whether the task
// changed something and its registered data.
func (h *harness) run(raw map[string]any, check bool) (bool, map[string]any) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := Module{}.Plan(ctx, h.call(raw, check))
	if err != nil {
		h.t.Fatalf("Plan: %v", err)
	}
	if p.Changed != (p.Apply != nil) {
		h.t.Fatalf("Plan: Changed=%v but Apply set=%v", p.Changed, p.Apply != nil)
	}
	if check || p.Apply == nil {
		return p.Changed, p.Data
	}
	res, err := p.Apply(ctx)
	if err != nil {
		h.t.Fatalf("Apply: %v", err)
	}
	return res.Changed, res.Data
}

func (h *harness) cert(name string) *x509.Certificate {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dir, name+".pem"))
	if err != nil {
		h.t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		h.t.Fatalf("%s.pem holds no PEM block", name)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		h.t.Fatalf("%s.pem: %v", name, err)
	}
	return c
}

func caArgs() map[string]any {
	return map[string]any{"name": "ca", "is_ca": true, "cn": "kubernetes-ca", "o": "k8s", "key_algo": "rsa", "key_size": 2048}
}

func kcmArgs(hosts ...any) map[string]any {
	return map[string]any{
		"name":  "kube-controller-manager",
		"CN":    "system:kube-controller-manager",
		"O":     "system:kube-controller-manager",
		"hosts": hosts,
	}
}

func verify(t *testing.T, ca, leaf *x509.Certificate, name string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("verify %q against the CA: %v", name, err)
	}
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestIssueCAAndLeaf(t *testing.T) {
	h := newHarness(t)
	if changed, data := h.run(caArgs(), false); !changed || data["issued"] != true {
		t.Fatalf("first CA run: changed=%v data=%v, want issued", changed, data)
	}
	changed, data := h.run(kcmArgs("127.0.0.1", "198.18.0.11", "kcm-1.lab", "198.18.0.12"), false)
	if !changed {
		t.Fatal("first leaf run did not change anything")
	}
	ca, leaf := h.cert("ca"), h.cert("kube-controller-manager")
	if !ca.IsCA {
		t.Fatal("ca.pem is not a CA")
	}
	verify(t, ca, leaf, "kcm-1.lab")
	verify(t, ca, leaf, "198.18.0.12")
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	slices.Sort(ips)
	if want := []string{"127.0.0.1", "198.18.0.11", "198.18.0.12"}; !slices.Equal(ips, want) {
		t.Errorf("IP SANs %v, want %v", ips, want)
	}
	if !slices.Equal(leaf.DNSNames, []string{"kcm-1.lab"}) {
		t.Errorf("DNS SANs %v, want [kcm-1.lab]", leaf.DNSNames)
	}
	if leaf.Subject.CommonName != "system:kube-controller-manager" || !slices.Equal(leaf.Subject.Organization, []string{"system:kube-controller-manager"}) {
		t.Errorf("subject %v", leaf.Subject)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Errorf("extended key usages %v, want server and client auth", leaf.ExtKeyUsage)
	}
	for _, c := range []struct {
		file string
		want os.FileMode
	}{
		{"ca-key.pem", 0o600}, {"kube-controller-manager-key.pem", 0o600},
		{"ca.pem", 0o644}, {"kube-controller-manager.pem", 0o644},
	} {
		if got := mode(t, filepath.Join(h.dir, c.file)); got != c.want {
			t.Errorf("%s mode %o, want %o", c.file, got, c.want)
		}
	}
	if data["serial"] != leaf.SerialNumber.String() || data["issued"] != true {
		t.Errorf("registered %v, want serial %s and issued", data, leaf.SerialNumber)
	}
	if got := data["hosts"]; len(got.([]any)) != 4 {
		t.Errorf("registered hosts %v", got)
	}
}

func TestRerunKeeps(t *testing.T) {
	h := newHarness(t)
	h.run(caArgs(), false)
	h.run(kcmArgs("127.0.0.1", "198.18.0.11"), false)
	serial := h.cert("kube-controller-manager").SerialNumber.String()
	caSerial := h.cert("ca").SerialNumber.String()
	for _, tc := range []struct {
		name string
		args map[string]any
	}{
		{"ca", caArgs()},
		{"leaf", kcmArgs("127.0.0.1", "198.18.0.11")},
		// The same hosts in another order and spelling are the same request.
		{"leaf reordered", kcmArgs("198.18.0.11", "127.0.0.1", "127.0.0.1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed, data := h.run(tc.args, false)
			if changed {
				t.Fatalf("rerun changed: %v", data["reason"])
			}
			if data["issued"] != false || data["reason"] != "" {
				t.Errorf("registered %v", data)
			}
		})
	}
	if got := h.cert("kube-controller-manager").SerialNumber.String(); got != serial {
		t.Errorf("leaf serial %s changed to %s", serial, got)
	}
	if got := h.cert("ca").SerialNumber.String(); got != caSerial {
		t.Errorf("CA serial changed")
	}
}

func TestReissue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		first  map[string]any
		second map[string]any
		reason string
	}{
		{"hosts changed", kcmArgs("127.0.0.1"), kcmArgs("127.0.0.1", "198.18.0.13"), "hosts"},
		{"subject changed", kcmArgs("127.0.0.1"), func() map[string]any { a := kcmArgs("127.0.0.1"); a["O"] = "system:masters"; return a }(), "subject"},
		{"key changed", kcmArgs("127.0.0.1"), func() map[string]any { a := kcmArgs("127.0.0.1"); a["key_algo"] = "rsa"; return a }(), "key"},
		{"usages changed", kcmArgs("127.0.0.1"), func() map[string]any { a := kcmArgs("127.0.0.1"); a["usages"] = "signing,client auth"; return a }(), "usages"},
		{"expiring", func() map[string]any {
			a := kcmArgs("127.0.0.1")
			a["expiry"] = "1h"
			a["renew_before"] = "10m"
			return a
		}(), kcmArgs("127.0.0.1"), "expires"},
		{"expiring soon by renew_before", func() map[string]any { a := kcmArgs("127.0.0.1"); a["expiry"] = "1000h"; return a }(), func() map[string]any { a := kcmArgs("127.0.0.1"); a["renew_before"] = "2000h"; return a }(), "renew_before"},
		{"ipv6 spelled out", kcmArgs("::1"), kcmArgs("0:0:0:0:0:0:0:1", "kcm-1"), "hosts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.run(caArgs(), false)
			h.run(tc.first, false)
			before := h.cert("kube-controller-manager")

			// Check mode reports the reissue and writes nothing.
			changed, data := h.run(tc.second, true)
			if !changed || !strings.Contains(data["reason"].(string), tc.reason) {
				t.Fatalf("check: changed=%v reason=%q, want changed because of %s", changed, data["reason"], tc.reason)
			}
			if h.cert("kube-controller-manager").SerialNumber.Cmp(before.SerialNumber) != 0 {
				t.Fatal("check mode wrote a certificate")
			}

			changed, data = h.run(tc.second, false)
			if !changed || data["issued"] != true {
				t.Fatalf("apply: changed=%v data=%v", changed, data)
			}
			after := h.cert("kube-controller-manager")
			if after.SerialNumber.Cmp(before.SerialNumber) == 0 {
				t.Fatal("the certificate was not reissued")
			}
			verify(t, h.cert("ca"), after, "")
			if changed, data := h.run(tc.second, false); changed {
				t.Fatalf("third run changed again: %v", data["reason"])
			}
		})
	}
}

func TestNewCAReissuesLeaf(t *testing.T) {
	h := newHarness(t)
	h.run(caArgs(), false)
	h.run(kcmArgs("127.0.0.1"), false)
	// A different CA subject replaces the CA; the leaf is then not signed
	// by it and must be issued again.
	ca2 := caArgs()
	ca2["cn"] = "another-ca"
	if changed, _ := h.run(ca2, false); !changed {
		t.Fatal("CA with a new subject was kept")
	}
	changed, data := h.run(kcmArgs("127.0.0.1"), false)
	if !changed || !strings.Contains(data["reason"].(string), "issued by") {
		t.Fatalf("leaf after new CA: changed=%v reason=%q", changed, data["reason"])
	}
	verify(t, h.cert("ca"), h.cert("kube-controller-manager"), "")
}

func TestCheckModeWritesNothing(t *testing.T) {
	h := newHarness(t)
	changed, data := h.run(caArgs(), true)
	if !changed || data["reason"] != "the certificate does not exist" {
		t.Fatalf("check CA: changed=%v data=%v", changed, data)
	}
	// The CA task did not run for real, so the leaf's plan says why it
	// would issue instead of failing.
	changed, data = h.run(kcmArgs("127.0.0.1"), true)
	if !changed || !strings.Contains(data["reason"].(string), "does not exist yet") {
		t.Fatalf("check leaf: changed=%v data=%v", changed, data)
	}
	entries, err := os.ReadDir(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("check mode wrote %d files", len(entries))
	}
}

func TestLeafWithoutCAFails(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	p, err := Module{}.Plan(ctx, h.call(kcmArgs("127.0.0.1"), false))
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	_, err = p.Apply(ctx)
	if err == nil || !strings.Contains(err.Error(), "is_ca: true") {
		t.Fatalf("Apply without a CA: %v, want an error saying how to create one", err)
	}
}

func TestConcurrentHostsIssueOnce(t *testing.T) {
	h := newHarness(t)
	h.run(caArgs(), false)
	ctx := context.Background()
	// Three hosts plan at once (all see no certificate), then apply.
	var plans []*modules.Plan
	for range 3 {
		p, err := Module{}.Plan(ctx, h.call(kcmArgs("127.0.0.1"), false))
		if err != nil || !p.Changed {
			t.Fatalf("Plan: %v changed=%v", err, p != nil && p.Changed)
		}
		plans = append(plans, p)
	}
	results := make(chan *modules.Result, 3)
	for _, p := range plans {
		go func() {
			r, err := p.Apply(ctx)
			if err != nil {
				t.Error(err)
			}
			results <- r
		}()
	}
	changed := 0
	for range plans {
		if r := <-results; r != nil && r.Changed {
			changed++
		}
	}
	if changed != 1 {
		t.Fatalf("%d of 3 concurrent applies issued, want 1", changed)
	}
}

func TestBadArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  map[string]any
		want string
	}{
		{"weak rsa", map[string]any{"name": "x", "cn": "x", "key_algo": "rsa", "key_size": 1024}, "2048"},
		{"bad curve", map[string]any{"name": "x", "cn": "x", "key_size": 300}, "256, 384 or 521"},
		{"unknown usage", map[string]any{"name": "x", "cn": "x", "usages": []any{"server auth", "serverauth"}}, `unknown usage "serverauth"`},
		{"empty subject", map[string]any{"name": "x"}, "subject is empty"},
		{"name is a path", map[string]any{"name": "../x", "cn": "x"}, "base name"},
		{"ca with ca_cert", map[string]any{"name": "ca", "cn": "x", "is_ca": true, "ca_cert": "a.pem"}, "is_ca"},
		{"renew_before beyond expiry", map[string]any{"name": "x", "cn": "x", "expiry": "100h", "renew_before": "200h"}, "renew_before"},
		{"ca with usages", map[string]any{"name": "ca", "cn": "x", "is_ca": true, "usages": "server auth"}, "usages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.raw["dir"] = "/tmp"
			args, errs := modules.Normalize(Module{}.Info(), tc.raw)
			if len(errs) > 0 {
				t.Fatalf("Normalize: %v", errs)
			}
			err := Module{}.CheckArgs(args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckArgs = %v, want an error containing %q", err, tc.want)
			}
			if _, err := (Module{}).Plan(context.Background(), &modules.Call{Args: args, Local: local.New("localhost")}); err == nil {
				t.Fatal("Plan accepted what CheckArgs refused")
			}
		})
	}
}

func TestRelativeDirIsUnderPlaybook(t *testing.T) {
	h := newHarness(t)
	c := h.call(map[string]any{"dir": "pki", "name": "ca", "is_ca": true, "cn": "ca"}, false)
	c.Dir = h.dir
	p, err := Module{}.Plan(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "pki", "ca.pem")); err != nil {
		t.Fatalf("relative dir: %v", err)
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
	if m, ok := modules.Lookup("cert"); !ok || m.Info().Name != "cert" {
		t.Fatal("cert is not registered")
	}
}
