// Package pki issues and checks X.509 certificates with cfssl used as a
// library. The cert module is built on it, and so are the test harnesses that
// need a CA (TLS servers, a kube-apiserver), so the certificates tests use are
// made the way users' are.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cloudflare/cfssl/config"
	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/helpers"
	"github.com/cloudflare/cfssl/initca"
	cflog "github.com/cloudflare/cfssl/log"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"
)

func init() {
	// cfssl prints [INFO] and [ERROR] lines to stderr on its own; every error
	// it logs is also returned to us and reported with the task, so its log
	// would only interleave noise with kplay's output.
	cflog.Level = cflog.LevelFatal + 1
}

// Request says what certificate to issue: cfssl's CSR fields plus the
// signing profile's usages and expiry.
type Request struct {
	CN      string
	O       []string // organisations (Kubernetes reads them as groups)
	OU      []string
	C, ST   string
	L       string
	Hosts   []string // DNS names, IP addresses, e-mail addresses, URIs
	KeyAlgo string   // rsa, ecdsa (default) or ed25519
	KeySize int      // 0: 2048 for rsa, 256 for ecdsa
	// Usages are cfssl's names: "signing", "key encipherment",
	// "server auth", "client auth", "cert sign", ...
	Usages []string
	Expiry time.Duration
	// NotAfter, when set, ends the validity there instead of after Expiry
	// (tests issue already expired certificates with it).
	NotAfter time.Time
}

// Defaults used when a Request leaves a field empty.
const (
	DefaultLeafExpiry = 365 * 24 * time.Hour
	DefaultCAExpiry   = 5 * 365 * 24 * time.Hour
)

// DefaultLeafUsages fit a certificate used both as a TLS server and as a
// client of another (kube-controller-manager serves /metrics and talks to the
// apiserver with the same pair).
var DefaultLeafUsages = []string{"signing", "key encipherment", "server auth", "client auth"}

// Normalize fills defaults and checks values, so Plan can refuse a bad
// request before anything is written.
func (r Request) Normalize(isCA bool) (Request, error) {
	if r.KeyAlgo == "" {
		r.KeyAlgo = "ecdsa"
	}
	r.KeyAlgo = strings.ToLower(r.KeyAlgo)
	switch r.KeyAlgo {
	case "rsa":
		if r.KeySize == 0 {
			r.KeySize = 2048
		}
		if r.KeySize < 2048 || r.KeySize > 8192 {
			return r, fmt.Errorf("rsa key size %d: want 2048 to 8192", r.KeySize)
		}
	case "ecdsa":
		if r.KeySize == 0 {
			r.KeySize = 256
		}
		if r.KeySize != 256 && r.KeySize != 384 && r.KeySize != 521 {
			return r, fmt.Errorf("ecdsa key size %d: want 256, 384 or 521", r.KeySize)
		}
	case "ed25519":
		r.KeySize = 0
	default:
		return r, fmt.Errorf("key algorithm %q: want rsa, ecdsa or ed25519", r.KeyAlgo)
	}
	if r.Expiry == 0 {
		r.Expiry = DefaultLeafExpiry
		if isCA {
			r.Expiry = DefaultCAExpiry
		}
	}
	if r.Expiry < 0 {
		return r, fmt.Errorf("expiry %s is negative", r.Expiry)
	}
	if isCA {
		// initca signs with its own CA policy (cert sign, crl sign); other
		// usages on a CA would be ignored, so refuse them instead.
		if len(r.Usages) > 0 {
			return r, errors.New("usages apply to leaf certificates; a CA gets cert sign and crl sign")
		}
	} else if len(r.Usages) == 0 {
		r.Usages = DefaultLeafUsages
	}
	for _, u := range r.Usages {
		_, ku := config.KeyUsage[u]
		_, eku := config.ExtKeyUsage[u]
		if !ku && !eku {
			return r, fmt.Errorf("unknown usage %q (cfssl's names: %s)", u, strings.Join(usageNames(), ", "))
		}
	}
	if r.CN == "" && len(r.O) == 0 && len(r.OU) == 0 {
		return r, errors.New("the subject is empty: give at least cn or o")
	}
	for _, h := range r.Hosts {
		if strings.TrimSpace(h) == "" {
			return r, errors.New("hosts holds an empty name")
		}
	}
	return r, nil
}

func usageNames() []string {
	var out []string
	for k := range config.KeyUsage {
		out = append(out, k)
	}
	for k := range config.ExtKeyUsage {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (r Request) cfssl() *csr.CertificateRequest {
	req := &csr.CertificateRequest{
		CN:         r.CN,
		Hosts:      r.Hosts,
		KeyRequest: &csr.KeyRequest{A: r.KeyAlgo, S: r.KeySize},
	}
	// cfssl builds the subject from a list of names, appending each field;
	// several O or OU values take several entries.
	n := max(1, len(r.O), len(r.OU))
	for i := range n {
		name := csr.Name{}
		if i == 0 {
			name.C, name.ST, name.L = r.C, r.ST, r.L
		}
		if i < len(r.O) {
			name.O = r.O[i]
		}
		if i < len(r.OU) {
			name.OU = r.OU[i]
		}
		if !csr.IsNameEmpty(name) {
			req.Names = append(req.Names, name)
		}
	}
	return req
}

// NewCA creates a self-signed CA. r must be normalized.
func NewCA(r Request) (certPEM, keyPEM []byte, err error) {
	req := r.cfssl()
	req.CA = &csr.CAConfig{Expiry: r.Expiry.String()}
	certPEM, _, keyPEM, err = initca.New(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cfssl: create CA: %w", err)
	}
	return certPEM, keyPEM, nil
}

// CA is a loaded certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// LoadCA parses a CA's certificate and key and checks that they belong
// together and that the certificate may sign.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := helpers.ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	key, err := helpers.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if !keyMatches(cert, key) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	// A CA without a key usage extension may sign; one that has it must
	// list cert sign.
	if !cert.IsCA || cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certificate %q is not a CA (no CA basic constraint or cert sign usage)", cert.Subject)
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM}, nil
}

// Issue signs a new leaf certificate and key. r must be normalized.
func (ca *CA) Issue(r Request) (certPEM, keyPEM []byte, err error) {
	csrPEM, keyPEM, err := csr.ParseRequest(r.cfssl())
	if err != nil {
		return nil, nil, fmt.Errorf("cfssl: certificate request: %w", err)
	}
	policy := &config.Signing{Default: &config.SigningProfile{
		Usage:        r.Usages,
		Expiry:       r.Expiry,
		ExpiryString: r.Expiry.String(),
	}}
	s, err := local.NewSigner(ca.Key, ca.Cert, signer.DefaultSigAlgo(ca.Key), policy)
	if err != nil {
		return nil, nil, fmt.Errorf("cfssl: signer: %w", err)
	}
	sr := signer.SignRequest{Hosts: r.Hosts, Request: string(csrPEM), NotAfter: r.NotAfter}
	if !r.NotAfter.IsZero() && r.NotAfter.Before(time.Now()) {
		sr.NotBefore = r.NotAfter.Add(-r.Expiry)
	}
	certPEM, err = s.Sign(sr)
	if err != nil {
		return nil, nil, fmt.Errorf("cfssl: sign: %w", err)
	}
	return certPEM, keyPEM, nil
}

// Check says why an existing certificate and key must be replaced, or ""
// when they can be kept: parseable, belonging together, signed by ca (or
// self-signed CA when ca is nil), with the requested subject, hosts, key and
// usages, and valid beyond now+renewBefore. r must be normalized.
func Check(certPEM, keyPEM []byte, ca *CA, r Request, renewBefore time.Duration, now time.Time) (reason string, cert *x509.Certificate) {
	cert, err := helpers.ParseCertificatePEM(certPEM)
	if err != nil {
		return "the certificate does not parse: " + err.Error(), nil
	}
	key, err := helpers.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return "the key does not parse: " + err.Error(), cert
	}
	if !keyMatches(cert, key) {
		return "the key does not match the certificate", cert
	}
	if ca == nil {
		if !cert.IsCA {
			return "the certificate is not a CA", cert
		}
		if err := cert.CheckSignatureFrom(cert); err != nil {
			return "the CA is not self-signed", cert
		}
	} else {
		if !bytes.Equal(cert.RawIssuer, ca.Cert.RawSubject) {
			return fmt.Sprintf("issued by %q, not by the CA %q", cert.Issuer, ca.Cert.Subject), cert
		}
		if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
			return "not signed by the CA's key", cert
		}
	}
	if got, want := SubjectOf(cert), r.Subject(); got != want {
		return fmt.Sprintf("subject %s, want %s", got, want), cert
	}
	if ca != nil {
		if got, want := HostsOf(cert), NormalizeHosts(r.Hosts); !slices.Equal(got, want) {
			return fmt.Sprintf("hosts [%s], want [%s]", strings.Join(got, ", "), strings.Join(want, ", ")), cert
		}
		if got, want := UsagesOf(cert), usagesSet(r.Usages); got != want {
			return fmt.Sprintf("usages %s, want %s", got, want), cert
		}
	}
	if algo, size := KeyOf(cert); algo != r.KeyAlgo || size != r.KeySize {
		return fmt.Sprintf("key %s, want %s", keyString(algo, size), keyString(r.KeyAlgo, r.KeySize)), cert
	}
	if now.Before(cert.NotBefore) {
		return fmt.Sprintf("not valid before %s", cert.NotBefore.UTC().Format(time.RFC3339)), cert
	}
	if !now.Add(renewBefore).Before(cert.NotAfter) {
		return fmt.Sprintf("expires %s, within renew_before %s", cert.NotAfter.UTC().Format(time.RFC3339), renewBefore), cert
	}
	return "", cert
}

func keyString(algo string, size int) string {
	if size == 0 {
		return algo
	}
	return fmt.Sprintf("%s %d", algo, size)
}

func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// KeyOf names a certificate's key algorithm and size as a Request does.
func KeyOf(cert *x509.Certificate) (algo string, size int) {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return "rsa", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ecdsa", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "ed25519", 0
	}
	return fmt.Sprintf("%T", cert.PublicKey), 0
}

// Subject is the request's subject in the form SubjectOf prints.
func (r Request) Subject() string {
	return subjectString(r.CN, r.O, r.OU, r.C, r.ST, r.L)
}

// SubjectOf prints the fields of a certificate's subject that a Request sets.
func SubjectOf(cert *x509.Certificate) string {
	s := cert.Subject
	return subjectString(s.CommonName, s.Organization, s.OrganizationalUnit,
		strings.Join(s.Country, ","), strings.Join(s.Province, ","), strings.Join(s.Locality, ","))
}

func subjectString(cn string, o, ou []string, c, st, l string) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("CN", cn)
	for _, v := range o {
		add("O", v)
	}
	for _, v := range ou {
		add("OU", v)
	}
	add("C", c)
	add("ST", st)
	add("L", l)
	return strings.Join(parts, ", ")
}

// NormalizeHosts sorts hosts and prints IP addresses canonically, so a
// request and a certificate compare equal however the hosts were written.
func NormalizeHosts(hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		} else if !strings.Contains(h, ":") && !strings.Contains(h, "@") {
			// DNS names compare case-insensitively; URIs and e-mail
			// addresses are kept as written.
			h = strings.ToLower(h)
		}
		out = append(out, h)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// HostsOf lists a certificate's subject alternative names, normalized.
func HostsOf(cert *x509.Certificate) []string {
	var hs []string
	hs = append(hs, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		hs = append(hs, ip.String())
	}
	hs = append(hs, cert.EmailAddresses...)
	for _, u := range cert.URIs {
		hs = append(hs, (*url.URL)(u).String())
	}
	return NormalizeHosts(hs)
}

// UsageSet is a comparable form of key usages.
type UsageSet struct {
	ku  x509.KeyUsage
	eku string
}

func (u UsageSet) String() string {
	return fmt.Sprintf("(key usage %#x, extended %s)", int(u.ku), u.eku)
}

func usagesSet(names []string) UsageSet {
	p := config.SigningProfile{Usage: names}
	ku, eku, _ := p.Usages()
	return makeUsageSet(ku, eku)
}

// UsagesOf returns a certificate's usages in the form Check compares.
func UsagesOf(cert *x509.Certificate) UsageSet {
	return makeUsageSet(cert.KeyUsage, cert.ExtKeyUsage)
}

func makeUsageSet(ku x509.KeyUsage, eku []x509.ExtKeyUsage) UsageSet {
	var names []string
	for _, e := range eku {
		for n, v := range config.ExtKeyUsage {
			if v == e {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return UsageSet{ku: ku, eku: "[" + strings.Join(slices.Compact(names), ", ") + "]"}
}
