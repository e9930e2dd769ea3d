// Package apiservertest runs a real etcd and a real kube-apiserver on
// loopback for tests, with certificates issued by cfssl (internal/pki), RBAC
// on, and a kubeconfig holding an admin user and a user RBAC grants nothing.
//
// The binaries come from lab/build-k8s.sh ($KPLAY_K8S_DIR, default
// /var/cache/kplay/k8s-v1.37.2) and Debian's etcd-server (/usr/bin/etcd, or
// $KPLAY_ETCD). A missing binary fails the test with what to install.
//
// kube-apiserver refuses a loopback --advertise-address. It serves on
// 127.0.0.1 (--bind-address) and is given --advertise-address=198.18.0.1, an
// address of the benchmark range the lab uses; nothing is sent there, because
// --endpoint-reconciler-type=none keeps the apiserver from publishing it as
// the kubernetes service's endpoint, and nothing else in a test reads it.
package apiservertest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"kplay/internal/pki"
)

// Server is a running etcd + kube-apiserver.
type Server struct {
	URL        string // https://127.0.0.1:PORT
	Dir        string // certificates, kubeconfig, logs, etcd data
	Kubeconfig string // contexts AdminContext and NobodyContext
	CAFile     string
	// AdminCert and AdminKey are a client pair in group system:masters.
	AdminCert, AdminKey string

	apiserver *proc
}

// proc is a server process the package started.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error // receives Wait's result once, then is closed
	// stopped is set when a test stops the process on purpose, so that its
	// exit is not reported as a crash.
	stopped atomic.Bool
}

// Context names in Kubeconfig.
const (
	AdminContext  = "admin"  // user admin, group system:masters
	NobodyContext = "nobody" // authenticated, but RBAC grants it nothing
)

// AdvertiseAddress is what the apiserver is told it is reachable at; see the
// package comment for why no traffic goes there.
const AdvertiseAddress = "198.18.0.1"

// K8sDir is where lab/build-k8s.sh puts the binaries.
func K8sDir() string {
	if d := os.Getenv("KPLAY_K8S_DIR"); d != "" {
		return d
	}
	return "/var/cache/kplay/k8s-v1.37.2"
}

func etcdPath() string {
	if p := os.Getenv("KPLAY_ETCD"); p != "" {
		return p
	}
	return "/usr/bin/etcd"
}

// Start runs etcd and kube-apiserver until the test ends and waits until
// the apiserver is ready. Both are stopped by pid in t.Cleanup, also when
// the test fails.
func Start(t testing.TB) *Server {
	t.Helper()
	apiserver := filepath.Join(K8sDir(), "kube-apiserver")
	for _, b := range []struct{ path, how string }{
		{etcdPath(), "apt-get install etcd-server (or set KPLAY_ETCD)"},
		{apiserver, "run lab/build-k8s.sh (or set KPLAY_K8S_DIR)"},
	} {
		if st, err := os.Stat(b.path); err != nil || st.Mode()&0o111 == 0 {
			t.Fatalf("apiservertest: %s is missing: %s", b.path, b.how)
		}
	}
	s := &Server{Dir: t.TempDir()}
	s.issue(t)

	etcdClient, etcdPeer := freePort(t), freePort(t)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	start(t, s.Dir, "etcd", etcdPath(),
		"--name=test",
		"--data-dir="+filepath.Join(s.Dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=test="+peerURL,
		"--log-level=warn",
	)

	port := freePort(t)
	s.URL = "https://127.0.0.1:" + strconv.Itoa(port)
	p := func(name string) string { return filepath.Join(s.Dir, name) }
	s.apiserver = start(t, s.Dir, "kube-apiserver", apiserver,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--advertise-address="+AdvertiseAddress,
		"--endpoint-reconciler-type=none",
		"--authorization-mode=RBAC",
		"--client-ca-file="+p("ca.pem"),
		"--tls-cert-file="+p("apiserver.pem"),
		"--tls-private-key-file="+p("apiserver-key.pem"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+p("service-accounts-key.pem"),
		"--service-account-signing-key-file="+p("service-accounts-key.pem"),
		"--service-cluster-ip-range=10.32.0.0/24",
		"--cert-dir="+p("apiserver-certs"),
		"--profiling=false",
		"--v=1",
	)
	s.waitReady(t, 3*time.Minute)
	return s
}

// issue writes the CA, the apiserver's serving pair, the client pairs, the
// service-account key and the kubeconfig.
func (s *Server) issue(t testing.TB) {
	t.Helper()
	write := func(name string, b []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(s.Dir, name), b, mode); err != nil {
			t.Fatal(err)
		}
	}
	caReq, err := pki.Request{CN: "apiservertest-ca"}.Normalize(true)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, caKey, err := pki.NewCA(caReq)
	if err != nil {
		t.Fatal(err)
	}
	write("ca.pem", caPEM, 0o644)
	write("ca-key.pem", caKey, 0o600)
	ca, err := pki.LoadCA(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(name string, r pki.Request) {
		r, err := r.Normalize(false)
		if err != nil {
			t.Fatal(err)
		}
		c, k, err := ca.Issue(r)
		if err != nil {
			t.Fatalf("issue %s: %v", name, err)
		}
		write(name+".pem", c, 0o644)
		write(name+"-key.pem", k, 0o600)
	}
	leaf("apiserver", pki.Request{CN: "kube-apiserver", Hosts: []string{"127.0.0.1", "localhost", "10.32.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}})
	leaf("admin", pki.Request{CN: "admin", O: []string{"system:masters"}})
	leaf("nobody", pki.Request{CN: "nobody"})
	// The apiserver signs service-account tokens with an RSA key; any
	// certificate's key will do.
	leaf("service-accounts", pki.Request{CN: "service-accounts", KeyAlgo: "rsa"})
	s.CAFile = filepath.Join(s.Dir, "ca.pem")
	s.AdminCert, s.AdminKey = filepath.Join(s.Dir, "admin.pem"), filepath.Join(s.Dir, "admin-key.pem")
	s.Kubeconfig = filepath.Join(s.Dir, "kubeconfig")
}

// WriteKubeconfig writes a kubeconfig for server url (this server's when
// empty) with the admin and nobody contexts, admin current.
func (s *Server) WriteKubeconfig(path, url string) error {
	if url == "" {
		url = s.URL
	}
	p := func(name string) string { return filepath.Join(s.Dir, name) }
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    client-certificate: %s
    client-key: %s
- name: nobody
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: %s
  context: {cluster: test, user: admin}
- name: %s
  context: {cluster: test, user: nobody}
current-context: %s
`, url, p("ca.pem"), p("admin.pem"), p("admin-key.pem"), p("nobody.pem"), p("nobody-key.pem"),
		AdminContext, NobodyContext, AdminContext)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

func (s *Server) waitReady(t testing.TB, limit time.Duration) {
	t.Helper()
	if err := s.WriteKubeconfig(s.Kubeconfig, ""); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(s.AdminCert, s.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
	}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.URL + "/readyz")
		if err == nil {
			body := make([]byte, 512)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("status %d: %s", resp.StatusCode, bytes.TrimSpace(body[:n]))
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("apiservertest: kube-apiserver not ready within %s (last: %s); log: %s\n%s", limit, last,
		filepath.Join(s.Dir, "kube-apiserver.log"), tail(filepath.Join(s.Dir, "kube-apiserver.log"), 30))
}

// start runs a server process with its output in DIR/NAME.log and stops it
// by pid when the test ends: SIGTERM, then SIGKILL after 10 s. Pdeathsig
// kills it too if the test binary dies first.
func start(t testing.TB, dir, name, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("apiservertest: start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); close(p.done); logFile.Close() }()
	t.Cleanup(func() {
		select {
		case err, ok := <-p.done:
			// It died before the test ended: say so, with its log,
			// unless the test stopped it.
			if ok && !p.stopped.Load() {
				t.Errorf("apiservertest: %s (pid %d) exited early: %v\n%s", name, cmd.Process.Pid, err, tail(logPath, 20))
			}
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGCONT) // in case a test froze it
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// APIServerPid is kube-apiserver's process id, for tests that freeze it
// (SIGSTOP, SIGCONT) to make it stop answering.
func (s *Server) APIServerPid() int { return s.apiserver.cmd.Process.Pid }

// StopAPIServer stops kube-apiserver by its pid with sig (SIGTERM: an
// orderly stop; SIGKILL: a crash), etcd staying up, and waits until it has
// exited (SIGKILL after 10 s). The test goes on without an apiserver.
func (s *Server) StopAPIServer(t testing.TB, sig syscall.Signal) {
	t.Helper()
	p := s.apiserver
	p.stopped.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("apiservertest: stopping %s (pid %d): %v", p.name, p.cmd.Process.Pid, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	ls := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return string(bytes.Join(ls, []byte("\n")))
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the server binds it; on this machine that has not happened,
// and the server's log would say so.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ClosedURL is an https URL on loopback where nothing listens, for
// unreachable-apiserver tests.
func ClosedURL(t testing.TB) string {
	return "https://127.0.0.1:" + strconv.Itoa(freePort(t))
}

// RESTConfig is a client-go configuration for one of the kubeconfig's
// contexts, for tests that act as a cluster component (leader-election
// candidates) or set objects up.
func (s *Server) RESTConfig(t testing.TB, context string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: s.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		t.Fatalf("apiservertest: kubeconfig context %s: %v", context, err)
	}
	cfg.Timeout = 10 * time.Second
	cfg.WarningHandler = rest.NoWarnings{}
	return cfg
}
