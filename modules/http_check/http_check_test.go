package http_check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kplay/internal/pki"
	"kplay/modules"
	"kplay/transport/local"
)

// pkiDir holds a CA, a second unrelated CA, server certificates (good,
// expired, for another name) and client certificates, all issued with cfssl.
type pkiDir struct {
	dir  string
	pool *x509.CertPool // the good CA, for servers checking clients
}

func issueAll(t *testing.T) *pkiDir {
	t.Helper()
	p := &pkiDir{dir: t.TempDir(), pool: x509.NewCertPool()}
	newCA := func(name string) *pki.CA {
		r, err := pki.Request{CN: name}.Normalize(true)
		if err != nil {
			t.Fatal(err)
		}
		c, k, err := pki.NewCA(r)
		if err != nil {
			t.Fatal(err)
		}
		p.write(t, name+".pem", c)
		ca, err := pki.LoadCA(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return ca
	}
	ca, other := newCA("ca"), newCA("other-ca")
	p.pool.AddCert(ca.Cert)
	leaf := func(ca *pki.CA, name string, r pki.Request) {
		r, err := r.Normalize(false)
		if err != nil {
			t.Fatal(err)
		}
		c, k, err := ca.Issue(r)
		if err != nil {
			t.Fatal(err)
		}
		p.write(t, name+".pem", c)
		p.write(t, name+"-key.pem", k)
	}
	leaf(ca, "server", pki.Request{CN: "server", Hosts: []string{"127.0.0.1", "localhost"}})
	leaf(ca, "elsewhere", pki.Request{CN: "elsewhere", Hosts: []string{"elsewhere.example", "198.18.0.99"}})
	leaf(ca, "expired", pki.Request{CN: "expired", Hosts: []string{"127.0.0.1"}, Expiry: time.Hour, NotAfter: time.Now().Add(-time.Hour)})
	leaf(other, "other-server", pki.Request{CN: "other-server", Hosts: []string{"127.0.0.1"}})
	leaf(ca, "admin", pki.Request{CN: "admin", O: []string{"system:masters"}})
	leaf(other, "stranger", pki.Request{CN: "stranger"})
	return p
}

func (p *pkiDir) write(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (p *pkiDir) path(name string) string { return filepath.Join(p.dir, name) }

// server starts a real TLS server with the named certificate; when
// clientAuth, it requires a client certificate signed by the good CA.
func (p *pkiDir) server(t *testing.T, cert string, clientAuth bool, h http.Handler) *httptest.Server {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(p.path(cert+".pem"), p.path(cert+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	if clientAuth {
		s.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		s.TLS.ClientCAs = p.pool
	}
	// The server logs every refused handshake; the test checks the client's side.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func metrics(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP workqueue_depth Current depth of workqueue")
	fmt.Fprintln(w, `workqueue_depth{name="deployment"} 0`)
}

func run(t *testing.T, raw map[string]any) (*modules.Plan, []string) {
	t.Helper()
	args, errs := modules.Normalize(Module{}.Info(), raw)
	if len(errs) > 0 {
		t.Fatalf("Normalize: %v", errs)
	}
	if err := (Module{}).CheckArgs(args); err != nil {
		t.Fatalf("CheckArgs: %v", err)
	}
	var progress []string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := Module{}.Plan(ctx, &modules.Call{Host: "kcm-1", Args: args, Local: local.New("localhost"), Conn: local.New("localhost"),
		Progress: func(m string) { progress = append(progress, m) }})
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if p.Changed || p.Apply != nil {
		t.Fatal("http_check planned a change")
	}
	return p, progress
}

func TestTLS(t *testing.T) {
	p := issueAll(t)
	mtls := p.server(t, "server", true, http.HandlerFunc(metrics))
	plain := p.server(t, "server", false, http.HandlerFunc(metrics))
	wrongName := p.server(t, "elsewhere", false, http.HandlerFunc(metrics))
	expired := p.server(t, "expired", false, http.HandlerFunc(metrics))
	otherCA := p.server(t, "other-server", false, http.HandlerFunc(metrics))
	client := map[string]any{"client_cert": p.path("admin.pem"), "client_key": p.path("admin-key.pem")}
	with := func(base map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name string
		args map[string]any
		fail string // "" when the check passes
	}{
		{"good CA and client cert", with(client, "url", mtls.URL+"/metrics", "ca_path", p.path("ca.pem"), "body_pattern", `workqueue_depth\{`, "return_content", true), ""},
		{"wrong CA", with(nil, "url", plain.URL+"/metrics", "ca_path", p.path("other-ca.pem")), "TLS: unknown authority"},
		{"server from another CA", with(nil, "url", otherCA.URL+"/metrics", "ca_path", p.path("ca.pem")), "TLS: unknown authority"},
		{"system CAs do not know ours", with(nil, "url", plain.URL+"/metrics"), "give ca_path"},
		{"missing client cert", with(nil, "url", mtls.URL+"/metrics", "ca_path", p.path("ca.pem")), "TLS: client cert refused: the server requires a client certificate"},
		{"client cert from another CA", with(nil, "url", mtls.URL+"/metrics", "ca_path", p.path("ca.pem"), "client_cert", p.path("stranger.pem"), "client_key", p.path("stranger-key.pem")), "TLS: client cert refused: the server rejected client_cert"},
		{"name mismatch", with(nil, "url", wrongName.URL+"/metrics", "ca_path", p.path("ca.pem")), "TLS: name mismatch: the server's certificate is for [elsewhere.example, 198.18.0.99], not 127.0.0.1"},
		{"expired", with(nil, "url", expired.URL+"/metrics", "ca_path", p.path("ca.pem")), "TLS: expired"},
		{"validate_certs false", with(nil, "url", otherCA.URL+"/metrics", "validate_certs", false), ""},
		{"wrong status", with(client, "url", mtls.URL+"/nothing", "ca_path", p.path("ca.pem")), `status 404, want 200; body: "not found"`},
		{"expected 404", with(client, "url", mtls.URL+"/nothing", "ca_path", p.path("ca.pem"), "status_code", []any{200, "404"}), ""},
		{"body pattern mismatch", with(client, "url", mtls.URL+"/metrics", "ca_path", p.path("ca.pem"), "body_pattern", "^ok$"), `does not match body_pattern "^ok$"`},
		{"HEAD", with(client, "url", mtls.URL+"/metrics", "ca_path", p.path("ca.pem"), "method", "HEAD"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, _ := run(t, tc.args)
			if tc.fail == "" {
				if plan.Failed {
					t.Fatalf("failed: %s", plan.Msg)
				}
			} else if !plan.Failed || !strings.Contains(plan.Msg, tc.fail) {
				t.Fatalf("Failed=%v msg %q, want a failure containing %q", plan.Failed, plan.Msg, tc.fail)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	p := issueAll(t)
	s := p.server(t, "server", true, http.HandlerFunc(metrics))
	plan, _ := run(t, map[string]any{"url": s.URL + "/metrics", "ca_path": p.path("ca.pem"),
		"client_cert": p.path("admin.pem"), "client_key": p.path("admin-key.pem"), "return_content": "yes"})
	d := plan.Data
	if d["status"] != 200 || d["attempts"] != 1 || d["url"] != s.URL+"/metrics" {
		t.Errorf("registered %v", d)
	}
	if h := d["headers"].(map[string]any); h["content-type"] != "text/plain; version=0.0.4" {
		t.Errorf("headers %v", h)
	}
	if b := d["body"].(string); !strings.HasPrefix(b, "# HELP workqueue_depth") || d["body_truncated"] != false {
		t.Errorf("body %q truncated %v", b, d["body_truncated"])
	}
	if e, ok := d["elapsed"].(float64); !ok || e < 0 {
		t.Errorf("elapsed %v", d["elapsed"])
	}

	// Without return_content the body is not registered; a large body is capped.
	big := p.server(t, "server", false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", registerCap*2)))
	}))
	plan, _ = run(t, map[string]any{"url": big.URL, "ca_path": p.path("ca.pem")})
	if _, ok := plan.Data["body"]; ok {
		t.Error("body registered without return_content")
	}
	plan, _ = run(t, map[string]any{"url": big.URL, "ca_path": p.path("ca.pem"), "return_content": true})
	if b := plan.Data["body"].(string); len(b) != registerCap || plan.Data["body_truncated"] != true {
		t.Errorf("big body: %d bytes registered, truncated %v", len(b), plan.Data["body_truncated"])
	}
}

func TestRetries(t *testing.T) {
	p := issueAll(t)
	var hits atomic.Int32
	// Unavailable for the first two requests, as a restarting service is.
	s := p.server(t, "server", false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	for _, tc := range []struct {
		name     string
		retries  int
		attempts int
		failed   bool
	}{
		{"enough retries", 3, 3, false},
		{"too few retries", 1, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			plan, progress := run(t, map[string]any{"url": s.URL, "ca_path": p.path("ca.pem"), "retries": tc.retries, "delay": "10ms", "body_pattern": "^ok$"})
			if plan.Failed != tc.failed || plan.Data["attempts"] != tc.attempts {
				t.Fatalf("failed=%v attempts=%v msg=%q, want failed=%v after %d", plan.Failed, plan.Data["attempts"], plan.Msg, tc.failed, tc.attempts)
			}
			if len(progress) != tc.attempts-1 || !strings.Contains(progress[0], "status 503") {
				t.Fatalf("progress %q", progress)
			}
			if tc.failed && !strings.Contains(plan.Msg, "after 2 attempts") {
				t.Errorf("msg %q does not count attempts", plan.Msg)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close() // nothing listens there now
	plan, _ := run(t, map[string]any{"url": u, "timeout": 5})
	if !plan.Failed || !strings.Contains(plan.Msg, "connection refused") {
		t.Fatalf("msg %q", plan.Msg)
	}
}

func TestBadArgs(t *testing.T) {
	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"url": "ftp://x/"}, "want http"},
		{map[string]any{"url": "https:///path"}, "want http"},
		{map[string]any{"url": "http://x/", "status_code": "20x"}, "not an HTTP status"},
		{map[string]any{"url": "http://x/", "body_pattern": "("}, "body_pattern"},
		{map[string]any{"url": "http://x/", "client_key": "k.pem"}, "client_key without client_cert"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			args, errs := modules.Normalize(Module{}.Info(), tc.raw)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if err := (Module{}).CheckArgs(args); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckArgs = %v, want %q", err, tc.want)
			}
		})
	}
	if _, errs := modules.Normalize(Module{}.Info(), map[string]any{"url": "http://x/", "method": "POST"}); len(errs) == 0 {
		t.Error("POST accepted: a check must only read")
	}
}
