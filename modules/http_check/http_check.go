// Package http_check is the http_check module: an HTTP(S) request from the
// control machine with a CA, a client certificate and expectations on the
// answer, named as ansible.builtin.uri names them.
package http_check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"kplay/modules"
	"kplay/transport"
)

func init() { modules.Register(Module{}) }

// Module implements http_check.
type Module struct{}

var (
	_ modules.Module      = Module{}
	_ modules.ArgsChecker = Module{}
)

// Caps on what is read and registered: a health check needs the head of a
// body, and a register holding megabytes would be printed with -v.
const (
	readCap     = 1 << 20
	registerCap = 64 << 10
)

// Info documents the module for `kplay doc`.
func (Module) Info() modules.Info {
	return modules.Info{
		Name:    "http_check",
		Summary: "Request a URL from the control machine and check status, TLS and body",
		Doc: `Requests url from the machine running kplay, with the argument names of
ansible.builtin.uri. https URLs are verified against ca_path when given (only
that CA is trusted then, not the system's), else against the system's CAs;
client_cert and client_key present a client certificate, like
curl --cacert ca.pem --cert admin.pem --key admin-key.pem.

The task fails when the request fails, the status is not in status_code, or the
body does not match body_pattern. A TLS failure names the check that failed:
unknown authority, name mismatch, expired, or client cert refused.

With retries, a failed attempt is retried after delay, up to retries more times;
each retry is reported as progress. Only GET and HEAD are allowed, because the
request also runs in check mode. Relative file paths are relative to the
playbook's directory.`,
		CheckMode: "runs the request: it only reads",
		Returns: `status (int); url (after redirects); headers (map, lower-case names); body (the
first 64 KiB, when return_content) and body_truncated; elapsed (seconds, all
attempts); attempts`,
		RunsOn: modules.OnController,
		Args: []modules.Arg{
			{Name: "url", Type: modules.String, Required: true, Doc: "http:// or https:// URL"},
			{Name: "method", Type: modules.String, Default: "GET", Choices: []string{"GET", "HEAD"}, Doc: "request method"},
			{Name: "headers", Type: modules.Map, Doc: "request headers"},
			{Name: "ca_path", Type: modules.String, Doc: "PEM file of the CA(s) to verify the server against, instead of the system's"},
			{Name: "client_cert", Type: modules.String, Doc: "PEM client certificate (may also hold the key)"},
			{Name: "client_key", Type: modules.String, Doc: "PEM key of client_cert"},
			{Name: "validate_certs", Type: modules.Bool, Default: true, Doc: "verify the server's certificate; false accepts any"},
			{Name: "status_code", Type: modules.List, Default: []any{200}, Doc: "accepted status codes, one or a list"},
			{Name: "timeout", Type: modules.Duration, Default: 30, Doc: "limit for one attempt (connect, TLS, headers and body)"},
			{Name: "return_content", Type: modules.Bool, Default: false, Doc: "register the body (capped at 64 KiB)"},
			{Name: "body_pattern", Type: modules.String, Doc: "regular expression (Go syntax) the body must match"},
			{Name: "retries", Type: modules.Int, Default: 0, Doc: "attempts after the first failed one"},
			{Name: "delay", Type: modules.Duration, Default: 5, Doc: "wait between attempts"},
		},
	}
}

type settings struct {
	url      *url.URL
	method   string
	headers  map[string]string
	statuses []int
	pattern  *regexp.Regexp
	timeout  time.Duration
	retries  int
	delay    time.Duration
	content  bool
}

// CheckArgs checks what can be checked without the network.
func (Module) CheckArgs(a modules.Args) error {
	_, err := parse(a)
	return err
}

func parse(a modules.Args) (settings, error) {
	s := settings{
		method:  a.Str("method"),
		headers: a.StrMap("headers"),
		timeout: a.Dur("timeout"),
		retries: a.Int("retries"),
		delay:   a.Dur("delay"),
		content: a.Bool("return_content"),
	}
	u, err := url.Parse(a.Str("url"))
	if err != nil {
		return s, fmt.Errorf("http_check: url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return s, fmt.Errorf("http_check: url %q: want http://HOST/... or https://HOST/...", a.Str("url"))
	}
	s.url = u
	for _, v := range a.Strings("status_code") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 100 || n > 599 {
			return s, fmt.Errorf("http_check: status_code %q is not an HTTP status", v)
		}
		s.statuses = append(s.statuses, n)
	}
	if p := a.Str("body_pattern"); p != "" {
		if s.pattern, err = regexp.Compile(p); err != nil {
			return s, fmt.Errorf("http_check: body_pattern: %w", err)
		}
	}
	if s.timeout <= 0 {
		return s, errors.New("http_check: timeout must be positive")
	}
	if s.retries < 0 || s.delay < 0 {
		return s, errors.New("http_check: retries and delay must not be negative")
	}
	if a.Str("client_key") != "" && a.Str("client_cert") == "" {
		return s, errors.New("http_check: client_key without client_cert")
	}
	return s, nil
}

// Plan makes the request: it only reads, so check mode runs it too.
func (Module) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	s, err := parse(c.Args)
	if err != nil {
		return nil, err
	}
	tlsConf, err := tlsConfig(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("http_check %s: %w", s.url.Redacted(), err)
	}
	client := &http.Client{
		Timeout: s.timeout,
		Transport: &http.Transport{
			TLSClientConfig:   tlsConf,
			DialContext:       (&net.Dialer{Timeout: s.timeout}).DialContext,
			ForceAttemptHTTP2: true,
			// Each attempt is a fresh connection: a retry after a restart
			// must not reuse one to the old process.
			DisableKeepAlives: true,
		},
	}
	defer client.CloseIdleConnections()

	start := time.Now()
	var (
		res      response
		failure  string
		attempts int
	)
	for attempts = 1; ; attempts++ {
		res, failure = attempt(ctx, client, s, c.Args)
		if failure == "" || attempts > s.retries || ctx.Err() != nil {
			break
		}
		if c.Progress != nil {
			c.Progress(fmt.Sprintf("%s: attempt %d of %d failed: %s; retrying in %s", s.url.Redacted(), attempts, s.retries+1, failure, s.delay))
		}
		t := time.NewTimer(s.delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	data := res.data(s.content)
	data["elapsed"] = time.Since(start).Round(time.Millisecond).Seconds()
	data["attempts"] = attempts
	if failure != "" {
		if attempts > 1 {
			failure = fmt.Sprintf("%s (after %d attempts)", failure, attempts)
		}
		return &modules.Plan{Failed: true, Msg: failure, Data: data}, nil
	}
	return &modules.Plan{Msg: fmt.Sprintf("%s: status %d", s.url.Redacted(), res.status), Data: data}, nil
}

type response struct {
	status    int
	url       string
	headers   map[string]any
	body      []byte
	truncated bool
}

func (r response) data(content bool) map[string]any {
	d := map[string]any{"status": r.status, "url": r.url, "headers": r.headers}
	if d["headers"] == nil {
		d["headers"] = map[string]any{}
	}
	if content {
		b, trunc := r.body, r.truncated
		if len(b) > registerCap {
			b, trunc = b[:registerCap], true
		}
		d["body"] = string(b)
		d["body_truncated"] = trunc
	}
	return d
}

// attempt makes one request and says what is wrong with it, "" if nothing.
func attempt(ctx context.Context, client *http.Client, s settings, a modules.Args) (response, string) {
	res := response{url: s.url.Redacted()}
	req, err := http.NewRequestWithContext(ctx, s.method, s.url.String(), nil)
	if err != nil {
		return res, err.Error()
	}
	for k, v := range s.headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return res, explain(err, s.url, a)
	}
	defer resp.Body.Close()
	res.status = resp.StatusCode
	res.url = resp.Request.URL.Redacted()
	res.headers = map[string]any{}
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		res.headers[strings.ToLower(k)] = strings.Join(resp.Header[k], ", ")
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, readCap+1))
	if len(body) > readCap {
		body, res.truncated = body[:readCap], true
	}
	res.body = body
	if err != nil {
		return res, "reading the body: " + explain(err, s.url, a)
	}
	ok := false
	for _, want := range s.statuses {
		ok = ok || want == resp.StatusCode
	}
	if !ok {
		return res, fmt.Sprintf("status %d, want %s%s", resp.StatusCode, joinInts(s.statuses), snippet(body))
	}
	if s.pattern != nil && !s.pattern.Match(body) {
		return res, fmt.Sprintf("the body does not match body_pattern %q%s", s.pattern, snippet(body))
	}
	return res, ""
}

func joinInts(ns []int) string {
	ss := make([]string, len(ns))
	for i, n := range ns {
		ss[i] = strconv.Itoa(n)
	}
	return strings.Join(ss, " or ")
}

// snippet shows the start of a body in a failure message: an error page
// usually says why.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf("; body: %q", s)
}

// explain turns a request error into the check that failed. Go reports the
// server's certificate problems as x509 errors, and a server refusing ours as
// a TLS alert from the remote side.
func explain(err error, u *url.URL, a modules.Args) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		op       *net.OpError
	)
	switch {
	case errors.As(err, &unknown):
		where := "a CA this machine trusts (give ca_path)"
		if p := a.Str("ca_path"); p != "" {
			where = "the CA in ca_path " + p
		}
		subject, issuer := "", ""
		if unknown.Cert != nil {
			subject, issuer = unknown.Cert.Subject.String(), unknown.Cert.Issuer.String()
		}
		return fmt.Sprintf("TLS: unknown authority: the server's certificate %q (issuer %q) is not signed by %s", subject, issuer, where)
	case errors.As(err, &hostname):
		var names []string
		if hostname.Certificate != nil {
			names = append(names, hostname.Certificate.DNSNames...)
			for _, ip := range hostname.Certificate.IPAddresses {
				names = append(names, ip.String())
			}
		}
		return fmt.Sprintf("TLS: name mismatch: the server's certificate is for [%s], not %s", strings.Join(names, ", "), hostname.Host)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Sprintf("TLS: expired: the server's certificate %q is valid from %s to %s",
			invalid.Cert.Subject.String(), invalid.Cert.NotBefore.UTC().Format(time.RFC3339), invalid.Cert.NotAfter.UTC().Format(time.RFC3339))
	case errors.As(err, &invalid):
		return fmt.Sprintf("TLS: the server's certificate is invalid: %v", invalid)
	case errors.As(err, &op) && op.Op == "remote error":
		return clientCertRefused(op.Err.Error(), a)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no answer within timeout %s: %v", a.Dur("timeout"), err)
	}
	return err.Error()
}

// clientCertRefused explains a TLS alert from the server. Alerts about
// certificates during the handshake are about ours: the server's certificate
// is checked on our side.
func clientCertRefused(alert string, a modules.Args) string {
	certAlert := false
	for _, s := range []string{"certificate required", "bad certificate", "unknown certificate authority", "expired certificate", "certificate revoked", "unsupported certificate", "certificate unknown", "access denied"} {
		certAlert = certAlert || strings.Contains(alert, s)
	}
	if !certAlert {
		return "TLS: the server ended the handshake: remote error: " + alert
	}
	if a.Str("client_cert") == "" {
		return fmt.Sprintf("TLS: client cert refused: the server requires a client certificate (remote error: %s); give client_cert and client_key", alert)
	}
	return fmt.Sprintf("TLS: client cert refused: the server rejected client_cert %s (remote error: %s); is it signed by a CA the server trusts, and valid?", a.Str("client_cert"), alert)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func tlsConfig(ctx context.Context, c *modules.Call) (*tls.Config, error) {
	a := c.Args
	conf := &tls.Config{InsecureSkipVerify: !a.Bool("validate_certs")}
	read := func(arg string) ([]byte, error) {
		p := a.Str(arg)
		if !path.IsAbs(p) && c.Dir != "" {
			p = path.Join(c.Dir, p)
		}
		conn := c.Local
		if conn == nil {
			conn = c.Conn
		}
		if conn == nil {
			return nil, errors.New("no connection to the control machine")
		}
		b, err := conn.ReadFile(ctx, p, transport.Options{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		return b, nil
	}
	if a.Str("ca_path") != "" {
		pemCA, err := read("ca_path")
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCA) {
			return nil, fmt.Errorf("ca_path %s holds no PEM certificate", a.Str("ca_path"))
		}
		conf.RootCAs = pool
	}
	if a.Str("client_cert") != "" {
		certPEM, err := read("client_cert")
		if err != nil {
			return nil, err
		}
		keyPEM := certPEM
		if a.Str("client_key") != "" {
			if keyPEM, err = read("client_key"); err != nil {
				return nil, err
			}
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client_cert %s and client_key %s: %w", a.Str("client_cert"), a.Str("client_key"), err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}
