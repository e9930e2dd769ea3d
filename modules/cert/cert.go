// Package cert is the cert module: a CA and leaf certificates issued with
// cfssl on the control machine, kept while they still fit the request.
package cert

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"kplay/internal/pki"
	"kplay/internal/shellarg"
	"kplay/modules"
	"kplay/transport"
)

func init() { modules.Register(Module{}) }

// Module implements the cert module.
type Module struct{}

var (
	_ modules.Module      = Module{}
	_ modules.ArgsChecker = Module{}
)

// Info documents the module for `kplay doc`.
func (Module) Info() modules.Info {
	return modules.Info{
		Name:    "cert",
		Summary: "Create a CA, or a certificate signed by it, with cfssl; keep one that still fits",
		Doc: `Issues X.509 certificates on the control machine with cfssl used as a library,
writing <dir>/<name>.pem and <dir>/<name>-key.pem as cfssljson -bare does.

With is_ca: true it creates a self-signed CA, or keeps the one already at that
path. Without it, it issues a leaf certificate signed by the CA in ca_cert and
ca_key (default <dir>/ca.pem and <dir>/ca-key.pem), which must exist: create it
in an earlier cert task with is_ca: true.

An existing certificate is kept (the task is ok, not changed) when it parses, its
key matches it, it is signed by that CA, its subject, hosts, key algorithm and
size and usages are the requested ones, and it does not expire within
renew_before. Otherwise it is issued again and the reason is registered.

Keys are written with mode 0600 from the start (the temporary file is created
with that mode before it is renamed into place); certificates with mode 0644.
Relative paths are relative to the playbook's directory. The task runs once per
host like any other: use run_once: true for a certificate every host shares.`,
		CheckMode: "reads the existing files and reports whether it would issue, and why; writes nothing",
		Returns: `cert, key, ca_cert (paths); subject; hosts (list); serial; not_before and not_after
(RFC 3339); issued (true when this run wrote a new certificate); reason (why it was
or would be issued, "" when kept)`,
		RunsOn: modules.OnController,
		Args: []modules.Arg{
			{Name: "dir", Type: modules.String, Required: true, Aliases: []string{"dest"},
				Doc: "directory for the files, created if missing"},
			{Name: "name", Type: modules.String, Required: true,
				Doc: "base name: writes <name>.pem and <name>-key.pem"},
			{Name: "is_ca", Type: modules.Bool, Default: false,
				Doc: "create a self-signed CA instead of a certificate signed by one"},
			{Name: "ca_cert", Type: modules.String,
				Doc: "the signing CA's certificate; default <dir>/ca.pem"},
			{Name: "ca_key", Type: modules.String,
				Doc: "the signing CA's key; default <dir>/ca-key.pem"},
			{Name: "cn", Type: modules.String, Aliases: []string{"CN", "common_name"},
				Doc: "subject common name (Kubernetes reads it as the user name)"},
			{Name: "o", Type: modules.List, Aliases: []string{"O", "organization"},
				Doc: "subject organisations, a list or one string (Kubernetes reads them as groups)"},
			{Name: "ou", Type: modules.List, Aliases: []string{"OU", "organizational_unit"},
				Doc: "subject organisational units"},
			{Name: "c", Type: modules.String, Aliases: []string{"C", "country"}, Doc: "subject country"},
			{Name: "st", Type: modules.String, Aliases: []string{"ST", "state"}, Doc: "subject state or province"},
			{Name: "l", Type: modules.String, Aliases: []string{"L", "locality"}, Doc: "subject locality"},
			{Name: "hosts", Type: modules.List,
				Doc: "subject alternative names: DNS names, IP addresses, e-mail addresses, URIs"},
			{Name: "key_algo", Type: modules.String, Default: "ecdsa", Choices: []string{"ecdsa", "rsa", "ed25519"},
				Doc: "key algorithm"},
			{Name: "key_size", Type: modules.Int,
				Doc: "key size: 256, 384 or 521 for ecdsa (default 256); 2048 to 8192 for rsa (default 2048)"},
			{Name: "usages", Type: modules.List,
				Doc: `cfssl usage names for a leaf; default signing, key encipherment, server auth, client auth`},
			{Name: "expiry", Type: modules.Duration,
				Doc: `validity, e.g. 8760h; default one year for a leaf, five years for a CA`},
			{Name: "renew_before", Type: modules.Duration, Default: "720h",
				Doc: "issue again when the certificate expires within this time"},
		},
	}
}

// CheckArgs refuses requests cfssl would refuse, before any host is touched.
func (Module) CheckArgs(a modules.Args) error {
	_, err := request(a)
	return err
}

func request(a modules.Args) (pki.Request, error) {
	isCA := a.Bool("is_ca")
	if isCA && (a.Has("ca_cert") || a.Has("ca_key")) {
		return pki.Request{}, errors.New("cert: ca_cert and ca_key name the signing CA; a task with is_ca: true creates one")
	}
	r := pki.Request{
		CN:      a.Str("cn"),
		O:       a.Strings("o"),
		OU:      a.Strings("ou"),
		C:       a.Str("c"),
		ST:      a.Str("st"),
		L:       a.Str("l"),
		Hosts:   a.Strings("hosts"),
		KeyAlgo: a.Str("key_algo"),
		KeySize: a.Int("key_size"),
		Usages:  a.Strings("usages"),
		Expiry:  a.Dur("expiry"),
	}
	r, err := r.Normalize(isCA)
	if err != nil {
		return r, fmt.Errorf("cert: %w", err)
	}
	if rb := a.Dur("renew_before"); rb >= r.Expiry {
		// Every run would issue again: refuse the loop instead.
		return r, fmt.Errorf("cert: renew_before %s is not shorter than expiry %s: every run would issue again", rb, r.Expiry)
	}
	if strings.ContainsAny(a.Str("name"), "/\x00") {
		return r, fmt.Errorf("cert: name %q must be a base name, not a path", a.Str("name"))
	}
	return r, nil
}

// files are the paths one task reads and writes.
type files struct {
	dir, cert, key, caCert, caKey string
}

func paths(c *modules.Call) files {
	abs := func(p string) string {
		if p == "" || path.IsAbs(p) || c.Dir == "" {
			return p
		}
		return path.Join(c.Dir, p)
	}
	a := c.Args
	f := files{dir: abs(a.Str("dir"))}
	f.cert = path.Join(f.dir, a.Str("name")+".pem")
	f.key = path.Join(f.dir, a.Str("name")+"-key.pem")
	if !a.Bool("is_ca") {
		f.caCert, f.caKey = path.Join(f.dir, "ca.pem"), path.Join(f.dir, "ca-key.pem")
		if s := a.Str("ca_cert"); s != "" {
			f.caCert = abs(s)
		}
		if s := a.Str("ca_key"); s != "" {
			f.caKey = abs(s)
		}
	}
	return f
}

// controller is the control machine's connection: the module reads and
// writes there whatever host the task is for.
func controller(c *modules.Call) (transport.Conn, error) {
	if c.Local != nil {
		return c.Local, nil
	}
	if c.Conn != nil {
		return c.Conn, nil
	}
	return nil, errors.New("cert: no connection to the control machine")
}

// decision is what Plan found.
type decision struct {
	reason string // "" keeps the existing certificate
	cert   *x509.Certificate
	ca     *pki.CA
}

// decide reads the files and says whether to issue. A missing CA is an error
// when issuing (requireCA); while planning it is a reason, because in check
// mode the CA task before this one has not created it yet.
func decide(ctx context.Context, conn transport.Conn, f files, r pki.Request, isCA, requireCA bool, renewBefore time.Duration) (decision, error) {
	var d decision
	if !isCA {
		caCert, err := conn.ReadFile(ctx, f.caCert, transport.Options{})
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if !requireCA {
					d.reason = "its CA " + f.caCert + " does not exist yet"
					return d, nil
				}
				return d, fmt.Errorf("CA certificate %s does not exist: create it first with a cert task with is_ca: true", f.caCert)
			}
			return d, fmt.Errorf("read CA certificate: %w", err)
		}
		caKey, err := conn.ReadFile(ctx, f.caKey, transport.Options{})
		if err != nil {
			return d, fmt.Errorf("read CA key: %w", err)
		}
		if d.ca, err = pki.LoadCA(caCert, caKey); err != nil {
			return d, fmt.Errorf("%s: %w", f.caCert, err)
		}
	}
	certPEM, errC := conn.ReadFile(ctx, f.cert, transport.Options{})
	keyPEM, errK := conn.ReadFile(ctx, f.key, transport.Options{})
	switch {
	case errors.Is(errC, fs.ErrNotExist):
		d.reason = "the certificate does not exist"
		return d, nil
	case errors.Is(errK, fs.ErrNotExist):
		d.reason = "the key does not exist"
		return d, nil
	case errC != nil:
		return d, fmt.Errorf("read %s: %w", f.cert, errC)
	case errK != nil:
		return d, fmt.Errorf("read %s: %w", f.key, errK)
	}
	d.reason, d.cert = pki.Check(certPEM, keyPEM, d.ca, r, renewBefore, time.Now())
	return d, nil
}

// Plan reads what exists and decides whether to issue.
func (m Module) Plan(ctx context.Context, c *modules.Call) (*modules.Plan, error) {
	r, err := request(c.Args)
	if err != nil {
		return nil, err
	}
	conn, err := controller(c)
	if err != nil {
		return nil, err
	}
	f := paths(c)
	isCA := c.Args.Bool("is_ca")
	renew := c.Args.Dur("renew_before")
	d, err := decide(ctx, conn, f, r, isCA, false, renew)
	if err != nil {
		return nil, fmt.Errorf("cert %s: %w", f.cert, err)
	}
	data := baseData(f, r)
	if d.reason == "" {
		describe(data, d.cert)
		data["issued"] = false
		data["reason"] = ""
		return &modules.Plan{Msg: fmt.Sprintf("%s is valid until %s", f.cert, d.cert.NotAfter.UTC().Format(time.RFC3339)), Data: data}, nil
	}
	what := "certificate"
	if isCA {
		what = "CA"
	}
	data["issued"] = false
	data["reason"] = d.reason
	before := ""
	if d.cert != nil {
		before = summary(pki.SubjectOf(d.cert), pki.HostsOf(d.cert), d.cert.NotAfter)
	}
	return &modules.Plan{
		Changed: true,
		Msg:     fmt.Sprintf("would issue %s %s (%s)", what, r.Subject(), d.reason),
		Diffs: []modules.Diff{
			{Path: f.cert, Before: before, After: summary(r.Subject(), pki.NormalizeHosts(r.Hosts), time.Now().Add(r.Expiry))},
			{Path: f.key, Secret: true},
		},
		Data: data,
		Apply: func(ctx context.Context) (*modules.Result, error) {
			return issue(ctx, conn, f, r, isCA, renew)
		},
	}, nil
}

// locks serialise issuing per certificate path: without run_once the task
// runs for every host at once, and all of them would issue the same file.
var locks sync.Map // path -> *sync.Mutex

func issue(ctx context.Context, conn transport.Conn, f files, r pki.Request, isCA bool, renew time.Duration) (*modules.Result, error) {
	mu, _ := locks.LoadOrStore(f.cert, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	// Decide again under the lock: another host's task may just have issued it.
	d, err := decide(ctx, conn, f, r, isCA, true, renew)
	if err != nil {
		return nil, fmt.Errorf("cert %s: %w", f.cert, err)
	}
	data := baseData(f, r)
	if d.reason == "" {
		describe(data, d.cert)
		data["issued"] = false
		data["reason"] = ""
		return &modules.Result{Msg: f.cert + " was issued by another host's task", Data: data}, nil
	}
	var certPEM, keyPEM []byte
	if isCA {
		certPEM, keyPEM, err = pki.NewCA(r)
	} else {
		certPEM, keyPEM, err = d.ca.Issue(r)
	}
	if err != nil {
		return nil, fmt.Errorf("cert %s: %w", f.cert, err)
	}
	if err := ensureDir(ctx, conn, f.dir); err != nil {
		return nil, fmt.Errorf("cert %s: %w", f.cert, err)
	}
	// The key first: a certificate without its key is useless, and a run
	// that fails between the two writes sees the mismatch and issues again.
	if err := conn.WriteFile(ctx, transport.File{Path: f.key, Content: keyPEM, Mode: 0o600}); err != nil {
		return nil, fmt.Errorf("cert: write %s: %w", f.key, err)
	}
	if err := conn.WriteFile(ctx, transport.File{Path: f.cert, Content: certPEM, Mode: 0o644}); err != nil {
		return nil, fmt.Errorf("cert: write %s: %w", f.cert, err)
	}
	cert, err := x509.ParseCertificate(pemBlock(certPEM))
	if err != nil {
		return nil, fmt.Errorf("cert: cfssl returned a certificate that does not parse: %w", err)
	}
	describe(data, cert)
	data["issued"] = true
	data["reason"] = d.reason
	return &modules.Result{Changed: true, Msg: fmt.Sprintf("issued %s (%s)", f.cert, d.reason), Data: data}, nil
}

func ensureDir(ctx context.Context, conn transport.Conn, dir string) error {
	st, err := conn.Stat(ctx, dir, transport.Options{})
	if err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if st.Exists {
		if !st.IsDir {
			return fmt.Errorf("%s exists and is not a directory", dir)
		}
		return nil
	}
	res, err := conn.Run(ctx, transport.Command{Cmd: "mkdir -p -- " + shellarg.Quote(dir)})
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	if res.RC != 0 {
		return fmt.Errorf("mkdir %s: rc %d: %s", dir, res.RC, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

func baseData(f files, r pki.Request) map[string]any {
	data := map[string]any{
		"cert":    f.cert,
		"key":     f.key,
		"subject": r.Subject(),
		"hosts":   toAny(pki.NormalizeHosts(r.Hosts)),
	}
	if f.caCert != "" {
		data["ca_cert"] = f.caCert
	}
	return data
}

func describe(data map[string]any, c *x509.Certificate) {
	data["subject"] = pki.SubjectOf(c)
	data["hosts"] = toAny(pki.HostsOf(c))
	data["serial"] = c.SerialNumber.String()
	data["not_before"] = c.NotBefore.UTC().Format(time.RFC3339)
	data["not_after"] = c.NotAfter.UTC().Format(time.RFC3339)
}

func summary(subject string, hosts []string, notAfter time.Time) string {
	return fmt.Sprintf("subject: %s\nhosts: %s\nnot after: about %s\n", subject, strings.Join(hosts, ", "), notAfter.UTC().Format("2006-01-02"))
}

func pemBlock(b []byte) []byte {
	if blk, _ := pem.Decode(b); blk != nil {
		return blk.Bytes
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
