// Package ssh reaches hosts over SSH with golang.org/x/crypto/ssh: one
// connection per host, authenticated and host-key-checked the way OpenSSH
// does it, with commands run through a long-lived shell loop so a task does
// not pay for a new session and a new shell.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kevinburke/ssh_config"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"kplay/diag"
	"kplay/transport"
)

// Config holds the connection defaults from the command line. Per-host
// values from the inventory (transport.HostSpec) win over these, and these
// win over ~/.ssh/config.
type Config struct {
	// User logs in when neither the inventory (ansible_user) nor
	// ~/.ssh/config names one; "" falls back to the local user (-u).
	User string
	// KeyFiles are private keys to offer, after the inventory's
	// ansible_ssh_private_key_file (--private-key). When no key file is named
	// anywhere, ~/.ssh/id_ed25519, id_ecdsa and id_rsa are tried, as OpenSSH does.
	KeyFiles []string
	// KnownHostsFiles are read besides ~/.ssh/known_hosts. The first one
	// receives keys accepted under AcceptNewHostKeys; with none given, that is
	// ~/.ssh/known_hosts.
	KnownHostsFiles []string
	// AcceptNewHostKeys records the key of a host not yet known instead of
	// refusing it (OpenSSH's StrictHostKeyChecking=accept-new). A changed key
	// is refused regardless.
	AcceptNewHostKeys bool
	// ConnectTimeout bounds TCP connect plus SSH handshake and
	// authentication, per hop. 0 means 10s.
	ConnectTimeout time.Duration
	// Keepalive is the interval of keepalive requests on an idle or busy
	// connection; KeepaliveMax unanswered ones in a row mark the host dead.
	// 0 means 15s and 3; a negative Keepalive turns them off.
	Keepalive    time.Duration
	KeepaliveMax int
	// BecomeUser is the user `become` switches to when a call does not name
	// one; "" means root.
	BecomeUser string
	// MaxSessions caps the command-loop sessions kept open per host (calls
	// beyond it wait); 0 means 3. OpenSSH allows 10 sessions per connection
	// by default and kplay keeps the rest for file transfers.
	MaxSessions int

	// Home is where ~/.ssh lives; "" is $HOME. Tests point it elsewhere.
	Home string
	// SSHConfigFile is the OpenSSH client config to read; "" is
	// Home/.ssh/config (when it exists), "none" reads none.
	SSHConfigFile string
	// Agent is the ssh-agent socket; "" is $SSH_AUTH_SOCK, "none" uses no agent.
	Agent string
}

// Host variables kplay reads from the inventory besides Ansible's.
const (
	// VarKnownHosts names one known_hosts file (a string) or several (a list),
	// read before the others; the first receives accepted keys.
	VarKnownHosts = "kplay_known_hosts"
	// VarHostKeyChecking is "accept-new" to record unknown keys for this host,
	// or "yes"/"strict" to refuse them even when the command line accepts new keys.
	VarHostKeyChecking = "kplay_host_key_checking"
)

// ParseKnownHosts reads kplay_known_hosts: nil, a file name or a list of
// file names. The dialer and kplay's static check both use it, so an
// inventory the check passes is one the dialer takes.
func ParseKnownHosts(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []string:
		return v, nil
	case []any:
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s must be a file name or a list of file names, not %s", VarKnownHosts, diag.TypeName(e))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s must be a file name or a list of file names, not %s", VarKnownHosts, diag.TypeName(v))
}

// ParseHostKeyChecking reads kplay_host_key_checking: set is false when v
// is nil; acceptNew is what the value asks for. Shared with the static
// check, as ParseKnownHosts is.
func ParseHostKeyChecking(v any) (set, acceptNew bool, err error) {
	switch v := v.(type) {
	case nil:
		return false, false, nil
	case string:
		switch strings.ToLower(v) {
		case "accept-new":
			return true, true, nil
		case "yes", "strict", "true":
			return true, false, nil
		}
		return false, false, fmt.Errorf("%s: %q is not one of accept-new, yes (no is not offered: kplay always checks host keys)", VarHostKeyChecking, v)
	case bool:
		if !v {
			return false, false, fmt.Errorf("%s: false is not offered: kplay always checks host keys; use accept-new to record unknown ones", VarHostKeyChecking)
		}
		return true, false, nil
	}
	return false, false, fmt.Errorf("%s must be a string, not %s", VarHostKeyChecking, diag.TypeName(v))
}

// CheckVars says, per variable, which of a host's ssh-only variables the
// dialer would refuse when connecting. Templated values ({{ }}) are left
// to connect time, when they are rendered.
func CheckVars(vars map[string]any) map[string]error {
	out := map[string]error{}
	if v := vars[VarKnownHosts]; !templated(v) {
		if _, err := ParseKnownHosts(v); err != nil {
			out[VarKnownHosts] = err
		}
	}
	if v := vars[VarHostKeyChecking]; !templated(v) {
		if _, _, err := ParseHostKeyChecking(v); err != nil {
			out[VarHostKeyChecking] = err
		}
	}
	return out
}

func templated(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, "{{") || strings.Contains(x, "{%")
	case []any:
		for _, e := range x {
			if templated(e) {
				return true
			}
		}
	}
	return false
}

// NewDialer returns a Dialer that opens SSH connections with cfg's defaults.
func NewDialer(cfg Config) transport.Dialer {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.Keepalive == 0 {
		cfg.Keepalive = 15 * time.Second
	}
	if cfg.KeepaliveMax <= 0 {
		cfg.KeepaliveMax = 3
	}
	if cfg.BecomeUser == "" {
		cfg.BecomeUser = "root"
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 3
	}
	if cfg.Home == "" {
		cfg.Home, _ = os.UserHomeDir()
	}
	return &Dialer{cfg: cfg, keys: map[string]gossh.Signer{}}
}

// Dialer implements transport.Dialer over SSH.
type Dialer struct {
	cfg Config

	sshConfigOnce sync.Once
	sshConfig     *ssh_config.Config
	sshConfigErr  error

	keysMu sync.Mutex
	keys   map[string]gossh.Signer // parsed key files, by path

	knownHostsMu sync.Mutex // serializes appends within this process (flock covers others)
}

var _ transport.Dialer = (*Dialer)(nil)

// target is everything needed to reach one hop.
type target struct {
	alias      string // what ~/.ssh/config matched against
	host       string // after HostName
	port       int
	user       string
	keyFiles   []string
	knownHosts []string // read in order
	recordTo   string   // where accept-new appends
	acceptNew  bool
	jumps      []string // ProxyJump hops, outermost first
	// keepalive and keepaliveMax: ServerAliveInterval and
	// ServerAliveCountMax from ~/.ssh/config; 0 when it does not say.
	keepalive    time.Duration
	keepaliveMax int
}

func (t *target) addr() string { return net.JoinHostPort(t.host, strconv.Itoa(t.port)) }

// Dial opens one connection to h. Every failure, from a refused TCP connect
// to a refused host key or failed authentication, is a
// *transport.UnreachableError naming the host: the engine stops that host
// and carries on with the others.
func (d *Dialer) Dial(ctx context.Context, h transport.HostSpec) (transport.Conn, error) {
	name := h.Name
	if name == "" {
		name = h.Address
	}
	unreachable := func(err error) error { return &transport.UnreachableError{Host: name, Err: err} }
	if h.Connection != "" && h.Connection != "ssh" {
		return nil, fmt.Errorf("%s: the ssh transport cannot open connection %q", name, h.Connection)
	}
	t, err := d.resolve(h)
	if err != nil {
		return nil, unreachable(err)
	}
	client, hops, err := d.connect(ctx, t)
	if err != nil {
		return nil, unreachable(err)
	}
	cfg := d.cfg
	if t.keepalive != 0 {
		cfg.Keepalive = t.keepalive
	}
	if t.keepaliveMax != 0 {
		cfg.KeepaliveMax = t.keepaliveMax
	}
	return newConn(name, client, hops, &cfg), nil
}

func (d *Dialer) loadSSHConfig() (*ssh_config.Config, error) {
	d.sshConfigOnce.Do(func() {
		path := d.cfg.SSHConfigFile
		if path == "none" {
			return
		}
		explicit := path != ""
		if !explicit {
			path = filepath.Join(d.cfg.Home, ".ssh", "config")
		}
		f, err := os.Open(path)
		if err != nil {
			if !explicit && errors.Is(err, os.ErrNotExist) {
				return
			}
			d.sshConfigErr = fmt.Errorf("ssh config: %w", err)
			return
		}
		defer f.Close()
		c, err := ssh_config.Decode(f)
		if err != nil {
			d.sshConfigErr = fmt.Errorf("ssh config %s: %w", path, err)
			return
		}
		d.sshConfig = c
	})
	return d.sshConfig, d.sshConfigErr
}

// sshConfigGet reads one ~/.ssh/config value for alias; "" when unset.
func (d *Dialer) sshConfigGet(alias, key string) string {
	c, _ := d.loadSSHConfig()
	if c == nil {
		return ""
	}
	v, err := c.Get(alias, key)
	if err != nil {
		return ""
	}
	return v
}

func (d *Dialer) sshConfigGetAll(alias, key string) []string {
	c, _ := d.loadSSHConfig()
	if c == nil {
		return nil
	}
	v, _ := c.GetAll(alias, key)
	return v
}

// resolve merges inventory, command line and ~/.ssh/config into a target.
func (d *Dialer) resolve(h transport.HostSpec) (*target, error) {
	if _, err := d.loadSSHConfig(); err != nil {
		return nil, err
	}
	alias := h.Address
	if alias == "" {
		alias = h.Name
	}
	if alias == "" {
		return nil, errors.New("no address to connect to")
	}
	t, err := d.resolveAlias(alias, h.User, h.Port, false)
	if err != nil {
		return nil, err
	}
	if h.KeyFile != "" {
		t.keyFiles = append([]string{d.expandPath(h.KeyFile, t)}, t.keyFiles...)
	}
	if len(t.keyFiles) == 0 {
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(d.cfg.Home, ".ssh", n)
			if _, err := os.Stat(p); err == nil {
				t.keyFiles = append(t.keyFiles, p)
			}
		}
	}

	// Host variables first, so an inventory can point a group at its own
	// known_hosts file and have accepted keys recorded there.
	hostFiles, err := ParseKnownHosts(h.Vars[VarKnownHosts])
	if err != nil {
		return nil, err
	}
	for _, f := range hostFiles {
		t.knownHosts = append(t.knownHosts, d.expandPath(f, t))
	}
	t.knownHosts = append(t.knownHosts, d.cfg.KnownHostsFiles...)
	for _, f := range d.sshConfigGetAll(alias, "UserKnownHostsFile") {
		for _, p := range strings.Fields(f) {
			if p != "/dev/null" {
				t.knownHosts = append(t.knownHosts, d.expandPath(p, t))
			}
		}
	}
	t.knownHosts = append(t.knownHosts, filepath.Join(d.cfg.Home, ".ssh", "known_hosts"))
	t.recordTo = t.knownHosts[0]

	t.acceptNew = d.cfg.AcceptNewHostKeys || strings.EqualFold(d.sshConfigGet(alias, "StrictHostKeyChecking"), "accept-new")
	if set, accept, err := ParseHostKeyChecking(h.Vars[VarHostKeyChecking]); err != nil {
		return nil, err
	} else if set {
		t.acceptNew = accept
	}
	return t, nil
}

// resolveAlias applies ~/.ssh/config to one hop. user and port, when set,
// come from the inventory or a ProxyJump spec and win over the file. As
// with OpenSSH's -l and -i, the command line's user and keys are for the
// destination, not for jump hosts.
func (d *Dialer) resolveAlias(alias, usr string, port int, jump bool) (*target, error) {
	t := &target{alias: alias, host: alias, port: port, user: usr}
	if hn := d.sshConfigGet(alias, "HostName"); hn != "" {
		t.host = strings.ReplaceAll(hn, "%h", alias)
	}
	if t.port == 0 {
		if p := d.sshConfigGet(alias, "Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				return nil, fmt.Errorf("ssh config: Port %q for %s is not a port number", p, alias)
			}
			t.port = n
		}
	}
	if t.port == 0 {
		t.port = 22
	}
	if t.user == "" && !jump {
		t.user = d.cfg.User
	}
	if t.user == "" {
		t.user = d.sshConfigGet(alias, "User")
	}
	if t.user == "" {
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("no user to log in as (set -u or ansible_user): %w", err)
		}
		t.user = u.Username
	}
	for _, k := range d.cfg.KeyFiles {
		if !jump {
			t.keyFiles = append(t.keyFiles, d.expandPath(k, t))
		}
	}
	for _, k := range d.sshConfigGetAll(alias, "IdentityFile") {
		t.keyFiles = append(t.keyFiles, d.expandPath(k, t))
	}
	if pj := d.sshConfigGet(alias, "ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
		t.jumps = strings.Split(pj, ",")
	}
	// How soon a silent host is given up: OpenSSH's names. An interval of
	// 0 turns keepalives off, as in OpenSSH (kplay's own default, when
	// the config says nothing, is 15 s and 3).
	if v := d.sshConfigGet(alias, "ServerAliveInterval"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("ssh config: ServerAliveInterval %q for %s is not a number of seconds", v, alias)
		}
		t.keepalive = time.Duration(n) * time.Second
		if n == 0 {
			t.keepalive = -1
		}
	}
	if v := d.sshConfigGet(alias, "ServerAliveCountMax"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("ssh config: ServerAliveCountMax %q for %s is not a positive number", v, alias)
		}
		t.keepaliveMax = n
	}
	return t, nil
}

// expandPath expands ~ and the OpenSSH tokens kplay users put in paths.
func (d *Dialer) expandPath(p string, t *target) string {
	if p == "~" {
		return d.cfg.Home
	}
	if strings.HasPrefix(p, "~/") {
		p = filepath.Join(d.cfg.Home, p[2:])
	}
	if !strings.Contains(p, "%") {
		return p
	}
	local := ""
	if u, err := user.Current(); err == nil {
		local = u.Username
	}
	r := strings.NewReplacer("%%", "%", "%d", d.cfg.Home, "%u", local, "%r", t.user, "%h", t.host, "%n", t.alias, "%p", strconv.Itoa(t.port))
	return r.Replace(p)
}

// parseJump splits a ProxyJump element "[user@]host[:port]".
func parseJump(s string) (usr, host string, port int, err error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "ssh://")
	if i := strings.LastIndex(s, "@"); i >= 0 {
		usr, s = s[:i], s[i+1:]
	}
	host = s
	if h, p, e := net.SplitHostPort(s); e == nil {
		host = h
		port, err = strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return "", "", 0, fmt.Errorf("ProxyJump %q: bad port", s)
		}
	}
	if host == "" {
		return "", "", 0, fmt.Errorf("ProxyJump %q: no host", s)
	}
	return usr, host, port, nil
}

// connect reaches t, through its ProxyJump hops if any. The returned hops
// are the jump connections, to be closed after the client.
func (d *Dialer) connect(ctx context.Context, t *target) (*gossh.Client, []*gossh.Client, error) {
	var hops []*gossh.Client
	closeHops := func() {
		for i := len(hops) - 1; i >= 0; i-- {
			hops[i].Close()
		}
	}
	var via *gossh.Client
	for _, j := range t.jumps {
		u, host, port, err := parseJump(j)
		if err != nil {
			closeHops()
			return nil, nil, err
		}
		jt, err := d.resolveAlias(host, u, port, true)
		if err != nil {
			closeHops()
			return nil, nil, err
		}
		if len(jt.keyFiles) == 0 {
			jt.keyFiles = t.keyFiles
		}
		jt.knownHosts, jt.recordTo, jt.acceptNew = t.knownHosts, t.recordTo, t.acceptNew
		c, err := d.handshake(ctx, via, jt)
		if err != nil {
			closeHops()
			return nil, nil, fmt.Errorf("via ProxyJump %s: %w", j, err)
		}
		hops = append(hops, c)
		via = c
	}
	c, err := d.handshake(ctx, via, t)
	if err != nil {
		closeHops()
		return nil, nil, err
	}
	return c, hops, nil
}

// handshake opens TCP (directly or through via) and runs the SSH handshake
// and authentication, all within ConnectTimeout.
func (d *Dialer) handshake(ctx context.Context, via *gossh.Client, t *target) (*gossh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ConnectTimeout)
	defer cancel()
	addr := t.addr()

	hostKeyCB, algos, err := d.hostKeyCallback(t)
	if err != nil {
		return nil, err
	}
	auth, closeAuth, offered, err := d.authMethods(t)
	if err != nil {
		return nil, err
	}
	defer closeAuth()

	var nc net.Conn
	if via != nil {
		nc, err = via.DialContext(ctx, "tcp", addr)
	} else {
		var nd net.Dialer
		nc, err = nd.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("connect to %s: timed out after %s", addr, d.cfg.ConnectTimeout)
		}
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	// The handshake reads and writes without a context; closing the socket
	// is what unblocks it when the time is up or the run is stopped.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	cc := &gossh.ClientConfig{
		User:              t.user,
		Auth:              auth,
		HostKeyCallback:   hostKeyCB,
		HostKeyAlgorithms: algos,
		Timeout:           d.cfg.ConnectTimeout,
	}
	sc, chans, reqs, err := gossh.NewClientConn(nc, addr, cc)
	if !stop() {
		// The context ended during the handshake: whatever err says, the
		// socket was closed under it.
		if sc != nil {
			sc.Close()
		}
		nc.Close()
		if err == nil || ctx.Err() != nil {
			return nil, fmt.Errorf("ssh handshake with %s: timed out after %s", addr, d.cfg.ConnectTimeout)
		}
	}
	if err != nil {
		nc.Close()
		var hk *hostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("authentication as user %q on %s failed (offered %s); check -u/ansible_user and --private-key/ansible_ssh_private_key_file: %w",
				t.user, addr, offered, err)
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", addr, err)
	}
	return gossh.NewClient(sc, chans, reqs), nil
}

// authMethods offers the agent's keys, then key files, as OpenSSH does.
// offered describes them for an authentication failure message.
func (d *Dialer) authMethods(t *target) (methods []gossh.AuthMethod, closeFn func(), offered string, err error) {
	var signers []gossh.Signer
	var desc []string
	closeFn = func() {}
	sock := d.cfg.Agent
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" && sock != "none" {
		ac, err := net.Dial("unix", sock)
		if err == nil {
			closeFn = func() { ac.Close() }
			ss, err := agent.NewClient(ac).Signers()
			if err == nil {
				signers = append(signers, ss...)
				desc = append(desc, fmt.Sprintf("%d agent key(s)", len(ss)))
			} else {
				desc = append(desc, "agent unusable: "+err.Error())
			}
		} else {
			desc = append(desc, "agent unreachable: "+err.Error())
		}
	}
	for _, f := range t.keyFiles {
		s, err := d.keyFile(f)
		if err != nil {
			// A missing or passphrase-protected key is not fatal: OpenSSH
			// goes on with the next one, and the agent may hold it.
			desc = append(desc, fmt.Sprintf("%s (unusable: %v)", f, err))
			continue
		}
		signers = append(signers, s)
		desc = append(desc, f)
	}
	if len(desc) == 0 {
		desc = append(desc, "no keys: no agent and no key file")
	}
	methods = []gossh.AuthMethod{gossh.PublicKeys(signers...)}
	return methods, closeFn, strings.Join(desc, ", "), nil
}

func (d *Dialer) keyFile(path string) (gossh.Signer, error) {
	d.keysMu.Lock()
	defer d.keysMu.Unlock()
	if s, ok := d.keys[path]; ok {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := gossh.ParsePrivateKey(b)
	if err != nil {
		var pm *gossh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, errors.New("protected by a passphrase; load it into ssh-agent")
		}
		return nil, err
	}
	d.keys[path] = s
	return s, nil
}
