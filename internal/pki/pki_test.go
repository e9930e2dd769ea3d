package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func mustCA(t testing.TB) (*CA, []byte, []byte) {
	t.Helper()
	r, err := Request{CN: "test-ca"}.Normalize(true)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := NewCA(r)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return ca, certPEM, keyPEM
}

func TestCheck(t *testing.T) {
	ca, caPEM, caKey := mustCA(t)
	other, _, _ := mustCA(t)
	leafReq, err := Request{CN: "leaf", O: []string{"a", "b"}, Hosts: []string{"127.0.0.1", "Leaf.Example"}}.Normalize(false)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(leafReq)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ca.Issue(leafReq)
	now := time.Now()
	for _, tc := range []struct {
		name      string
		cert, key []byte
		ca        *CA
		req       Request
		want      string
	}{
		{"kept", certPEM, keyPEM, ca, leafReq, ""},
		{"CA kept", caPEM, caKey, nil, Request{CN: "test-ca", KeyAlgo: "ecdsa", KeySize: 256}, ""},
		{"leaf is no CA", certPEM, keyPEM, nil, leafReq, "not a CA"},
		{"other CA, same subject", certPEM, keyPEM, other, leafReq, "not signed by the CA"},
		{"key swapped", certPEM, otherKey, ca, leafReq, "does not match"},
		{"garbage cert", []byte("nope"), keyPEM, ca, leafReq, "does not parse"},
		{"garbage key", certPEM, []byte("nope"), ca, leafReq, "key does not parse"},
		{"one O less", certPEM, keyPEM, ca, func() Request { r := leafReq; r.O = []string{"a"}; return r }(), "subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := Check(tc.cert, tc.key, tc.ca, tc.req, time.Hour, now)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("Check = %q, want %q", got, tc.want)
			}
		})
	}
	_, leaf := Check(certPEM, keyPEM, ca, leafReq, time.Hour, now)
	if got := HostsOf(leaf); strings.Join(got, ",") != "127.0.0.1,leaf.example" {
		t.Errorf("HostsOf = %v", got)
	}
	if _, err := LoadCA(certPEM, keyPEM); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("LoadCA(leaf) = %v, want not a CA", err)
	}
	if _, err := LoadCA(caPEM, keyPEM); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("LoadCA(mismatched key) = %v", err)
	}
}

// FuzzCheck feeds arbitrary bytes as an existing certificate and key: Check
// must answer with a reason, never panic, and never keep garbage.
func FuzzCheck(f *testing.F) {
	ca, caPEM, caKey := mustCA(f)
	req, _ := Request{CN: "leaf"}.Normalize(false)
	certPEM, keyPEM, _ := ca.Issue(req)
	f.Add(certPEM, keyPEM)
	f.Add(caPEM, caKey)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), keyPEM)
	f.Fuzz(func(t *testing.T, c, k []byte) {
		reason, cert := Check(c, k, ca, req, time.Hour, time.Now())
		if reason == "" && (cert == nil || cert.CheckSignatureFrom(ca.Cert) != nil) {
			t.Fatalf("kept a certificate not signed by the CA: %q", c)
		}
		NormalizeHosts([]string{string(c), string(k)})
	})
}

// A CA made by another tool without a key usage extension can still sign:
// LoadCA must take it and Issue must chain to it.
func TestLoadCAWithoutKeyUsage(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "openssl-style-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	r, _ := Request{CN: "leaf"}.Normalize(false)
	c, k, err := ca.Issue(r)
	if err != nil {
		t.Fatal(err)
	}
	if reason, _ := Check(c, k, ca, r, time.Minute, time.Now()); reason != "" {
		t.Fatalf("fresh leaf not kept: %s", reason)
	}
}
