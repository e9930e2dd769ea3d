// Package sshdtest starts real OpenSSH servers on loopback addresses for
// tests and benchmarks: one sshd per host, each on its own 127.0.0.x address
// with its own host key, sshd_config, pid file, scratch directory and
// authorized_keys. It stops exactly the processes it started, by pid.
//
// Typical use in a test:
//
//	key := sshdtest.NewUserKeyT(t)
//	c := sshdtest.StartT(t, 3, sshdtest.Config{AuthorizedKeys: []ssh.PublicKey{key.Public}})
//	c.WriteKnownHostsT(t, knownHostsPath)
//	for _, s := range c.Servers { ... s.Addr, s.Port ... }
package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHD is the server binary used.
const SSHD = "/usr/sbin/sshd"

// Config says how to set up every server of a cluster.
type Config struct {
	// AuthorizedKeys may log in as any user on every server.
	AuthorizedKeys []ssh.PublicKey
	// ExtraConfig is appended to each sshd_config (one directive a line).
	ExtraConfig string
}

// Cluster is a set of servers started together.
type Cluster struct {
	Dir     string
	Servers []*Server
}

// Server is one sshd. Its fields are fixed for its life: a restart keeps
// address, port and (unless RotateHostKey) host key.
type Server struct {
	Name    string // "host1", "host2", ...
	Addr    string // 127.0.0.x
	Port    int
	Dir     string // scratch directory holding config, keys, pid file, log
	HostKey ssh.PublicKey

	cfg Config

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// Prereqs reports what is missing to run real sshd servers.
func Prereqs() error {
	if _, err := os.Stat(SSHD); err != nil {
		return fmt.Errorf("sshdtest: %s is missing: install Debian's openssh-server (`make deps`)", SSHD)
	}
	if os.Geteuid() != 0 {
		return errors.New("sshdtest: sshd must run as root to log users in; run the tests as root")
	}
	return nil
}

var (
	addrMu   sync.Mutex
	nextAddr = -1
)

// loopbackAddr hands out 127.0.0.2 .. 127.0.0.254 in turn, from a random
// start so concurrent test processes rarely share an address (the port,
// picked free, keeps them apart anyway).
func loopbackAddr() string {
	addrMu.Lock()
	defer addrMu.Unlock()
	if nextAddr < 0 {
		n, _ := rand.Int(rand.Reader, big.NewInt(253))
		nextAddr = int(n.Int64())
	}
	a := fmt.Sprintf("127.0.0.%d", 2+nextAddr%253)
	nextAddr++
	return a
}

// Start starts n servers under dir (created if needed). On error, the
// servers already started are stopped.
func Start(n int, dir string, cfg Config) (*Cluster, error) {
	if err := Prereqs(); err != nil {
		return nil, err
	}
	// Debian's sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	// sshd reads authorized_keys as the user logging in: every user must
	// be able to reach it.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	c := &Cluster{Dir: dir}
	type started struct {
		i   int
		s   *Server
		err error
	}
	ch := make(chan started, n)
	for i := range n {
		go func() {
			s, err := newServer(fmt.Sprintf("host%d", i+1), filepath.Join(dir, fmt.Sprintf("host%d", i+1)), cfg)
			if err == nil {
				err = s.Start()
			}
			ch <- started{i, s, err}
		}()
	}
	c.Servers = make([]*Server, n)
	var errs []error
	for range n {
		r := <-ch
		c.Servers[r.i] = r.s
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if len(errs) > 0 {
		c.Stop()
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Stop stops every server and every process it started.
func (c *Cluster) Stop() error {
	var errs []error
	for _, s := range c.Servers {
		if s != nil {
			errs = append(errs, s.Stop())
		}
	}
	return errors.Join(errs...)
}

// KnownHosts returns known_hosts lines for every server.
func (c *Cluster) KnownHosts() string {
	var b strings.Builder
	for _, s := range c.Servers {
		b.WriteString(s.KnownHostsLine())
	}
	return b.String()
}

// WriteKnownHosts writes (replaces) a known_hosts file listing every server.
func (c *Cluster) WriteKnownHosts(path string) error {
	return os.WriteFile(path, []byte(c.KnownHosts()), 0o600)
}

func newServer(name, dir string, cfg Config) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{Name: name, Dir: dir, Addr: loopbackAddr(), cfg: cfg}
	if err := s.writeHostKey(); err != nil {
		return nil, err
	}
	var ak strings.Builder
	for _, k := range cfg.AuthorizedKeys {
		ak.Write(ssh.MarshalAuthorizedKey(k))
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(ak.String()), 0o644); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) writeHostKey() error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "host_ed25519_key"), pem.EncodeToMemory(blk), 0o600); err != nil {
		return err
	}
	s.HostKey, err = ssh.NewPublicKey(pub)
	return err
}

// Address is "127.0.0.x:port".
func (s *Server) Address() string { return net.JoinHostPort(s.Addr, strconv.Itoa(s.Port)) }

// KnownHostsLine is the known_hosts line for this server's current key.
func (s *Server) KnownHostsLine() string {
	return fmt.Sprintf("[%s]:%d %s", s.Addr, s.Port, ssh.MarshalAuthorizedKey(s.HostKey))
}

// Log returns what sshd wrote to its log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
	return string(b)
}

// Pid is the listening sshd's pid, 0 when stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) writeConfig() error {
	conf := fmt.Sprintf(`ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
MaxStartups 200
MaxSessions 20
LogLevel ERROR
# Keep the login account's ~/.bashrc out of the tests: bash sources it for
# a command from sshd only in a top-level shell (SHLVL below 2). The test
# servers run on the developer's own machine and log in as its users, whose
# login files are not the tests' business (a root .bashrc that runs
# pyenv waits 60 s for a lock a killed login left behind).
SetEnv SHLVL=1
%s
`, s.Address(), filepath.Join(s.Dir, "host_ed25519_key"), filepath.Join(s.Dir, "sshd.pid"),
		filepath.Join(s.Dir, "authorized_keys"), s.cfg.ExtraConfig)
	return os.WriteFile(filepath.Join(s.Dir, "sshd_config"), []byte(conf), 0o644)
}

// Start starts (or restarts) the server. The first start picks a free port
// on the server's address; later starts reuse it.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("sshdtest: %s already running", s.Name)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		pickPort := s.Port == 0
		if pickPort {
			l, err := net.Listen("tcp", net.JoinHostPort(s.Addr, "0"))
			if err != nil {
				return fmt.Errorf("sshdtest: %s: %w", s.Name, err)
			}
			s.Port = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		if err := s.writeConfig(); err != nil {
			return err
		}
		lastErr = s.startLocked()
		if lastErr == nil {
			return nil
		}
		if !pickPort {
			break
		}
		s.Port = 0 // someone took the port between our probe and sshd: pick another
	}
	return lastErr
}

func (s *Server) startLocked() error {
	logf, err := os.OpenFile(filepath.Join(s.Dir, "sshd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(SSHD, "-D", "-e", "-f", filepath.Join(s.Dir, "sshd_config"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a ^C to the test does not reach it before
	// Stop does, and so Stop's kills cannot touch anything else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sshdtest: starting %s: %w", SSHD, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("sshdtest: sshd for %s on %s exited at start: %s", s.Name, s.Address(), strings.TrimSpace(s.Log()))
		default:
		}
		nc, err := net.DialTimeout("tcp", s.Address(), time.Second)
		if err == nil {
			nc.Close()
			s.cmd, s.done = cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("sshdtest: sshd for %s on %s not listening after 10s: %v", s.Name, s.Address(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the listening sshd and every process below it (the
// per-connection sshd processes and the users' commands), so open
// connections end too.
func (s *Server) Stop() error { return s.stop(syscall.SIGTERM) }

// Kill is Stop with SIGKILL: connections die mid-transfer, as when a host
// loses power, and nothing gets to clean up.
func (s *Server) Kill() error { return s.stop(syscall.SIGKILL) }

func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	pid := s.cmd.Process.Pid
	// Stop the listener first so nothing new is forked, then the rest.
	kids := Descendants(pid)
	syscall.Kill(pid, sig)
	for _, k := range kids {
		syscall.Kill(k, sig)
	}
	// A frozen (SIGSTOPped) process acts on SIGTERM only once continued.
	syscall.Kill(pid, syscall.SIGCONT)
	for _, k := range kids {
		syscall.Kill(k, syscall.SIGCONT)
	}
	// Processes forked while we were collecting (a session just starting).
	for _, k := range Descendants(pid) {
		syscall.Kill(k, syscall.SIGKILL)
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		<-s.done
	}
	// The connection processes were orphaned by the listener's exit; wait
	// until they are gone too, so a caller can count on a clean slate.
	deadline := time.Now().Add(5 * time.Second)
	for _, k := range kids {
		for alive(k) {
			if time.Now().After(deadline) {
				syscall.Kill(k, syscall.SIGKILL)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	s.cmd, s.done = nil, nil
	return nil
}

// alive reports whether pid runs (a zombie has finished: it only waits to
// be reaped by whoever inherited it).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// Freeze stops (SIGSTOP) the server and its connection processes: TCP
// connects still succeed (the kernel accepts them), but nothing answers, as
// with a hung host. Thaw undoes it; Stop and Kill thaw first.
func (s *Server) Freeze() { s.signalTree(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *Server) Thaw() { s.signalTree(syscall.SIGCONT) }

func (s *Server) signalTree(sig syscall.Signal) {
	pid := s.Pid()
	if pid == 0 {
		return
	}
	syscall.Kill(pid, sig)
	for _, k := range Descendants(pid) {
		syscall.Kill(k, sig)
	}
}

// KillConnections kills (SIGKILL) the per-connection processes but leaves
// the listener running: open connections die, new ones can be made.
func (s *Server) KillConnections() {
	pid := s.Pid()
	if pid == 0 {
		return
	}
	for _, k := range Descendants(pid) {
		syscall.Kill(k, syscall.SIGKILL)
	}
}

// RotateHostKey gives the server a new host key and restarts it, as a
// reinstalled (or impersonated) host would look.
func (s *Server) RotateHostKey() error {
	if err := s.Stop(); err != nil {
		return err
	}
	if err := s.writeHostKey(); err != nil {
		return err
	}
	return s.Start()
}

// CPUTime is the CPU time used by the server and by everything it started
// that has exited and been reaped (connections, shells, commands). Measure
// after the connections have closed.
func (s *Server) CPUTime() (time.Duration, error) {
	pid := s.Pid()
	if pid == 0 {
		return 0, fmt.Errorf("sshdtest: %s not running", s.Name)
	}
	return ProcCPUTime(pid, true)
}

// ProcCPUTime reads a process's user+system time from /proc, with its
// reaped children's when children is set.
func ProcCPUTime(pid int, children bool) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses; fields start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14 -> f[11].
	if len(f) < 15 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	last := 13
	if children {
		last = 15
	}
	var ticks int64
	for _, s := range f[11:last] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad /proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	// USER_HZ is 100 on every Linux architecture kplay targets.
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// Descendants lists the pids below pid, read from /proc.
func Descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	kids := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		kids[pp] = append(kids[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, k := range kids[p] {
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out
}

// UserKey is a client key pair with its private key written to a file.
type UserKey struct {
	Signer ssh.Signer
	Public ssh.PublicKey
	Path   string // OpenSSH private key file, mode 0600
}

// NewUserKey makes an ed25519 key and writes it to dir/name.
func NewUserKey(dir, name string) (*UserKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(blk), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p+".pub", ssh.MarshalAuthorizedKey(mustPub(priv)), 0o644); err != nil {
		return nil, err
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	return &UserKey{Signer: s, Public: s.PublicKey(), Path: p}, nil
}

func mustPub(priv ed25519.PrivateKey) ssh.PublicKey {
	k, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		panic(err)
	}
	return k
}
