package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"kplay/transport"
)

// conn is one SSH connection to one host. Commands without standard input
// go through a small pool of command-loop sessions; commands with standard
// input and file uploads get a session of their own.
type conn struct {
	name   string
	client *gossh.Client
	hops   []*gossh.Client // ProxyJump connections, closed after client
	cfg    *Config

	loops    chan *loopSession // idle loop sessions
	loopSlot chan struct{}     // one token per loop session alive
	extra    chan struct{}     // one token per one-off session running

	dead     chan struct{} // closed when the connection is gone
	deadOnce sync.Once
	deadErr  error // why; set before dead is closed

	closeOnce sync.Once
	closed    chan struct{}
}

var _ transport.Conn = (*conn)(nil)

// extraSessions caps one-off sessions per host. With MaxSessions loops it
// stays under OpenSSH's default MaxSessions of 10.
const extraSessions = 4

func newConn(name string, client *gossh.Client, hops []*gossh.Client, cfg *Config) *conn {
	c := &conn{
		name:     name,
		client:   client,
		hops:     hops,
		cfg:      cfg,
		loops:    make(chan *loopSession, cfg.MaxSessions),
		loopSlot: make(chan struct{}, cfg.MaxSessions),
		extra:    make(chan struct{}, extraSessions),
		dead:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
	go func() {
		err := client.Wait()
		if err == nil {
			err = errors.New("connection closed by the host")
		}
		c.markDead(fmt.Errorf("connection lost: %w", err))
	}()
	if cfg.Keepalive > 0 {
		go c.keepalive()
	}
	return c
}

func (c *conn) markDead(err error) {
	c.deadOnce.Do(func() {
		c.deadErr = err
		close(c.dead)
		c.client.Close()
	})
}

func (c *conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// keepalive asks the host for a reply every interval. A connection whose
// peer vanished without a FIN (host down, cable out) would otherwise hang
// every call until TCP gives up, many minutes later.
func (c *conn) keepalive() {
	t := time.NewTicker(c.cfg.Keepalive)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-c.dead:
			return
		case <-c.closed:
			return
		case <-t.C:
		}
		replied := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		select {
		case err := <-replied:
			if err != nil {
				c.markDead(fmt.Errorf("keepalive: %w", err))
				return
			}
			missed = 0
		case <-time.After(c.cfg.Keepalive):
			missed++
			if missed >= c.cfg.KeepaliveMax {
				c.markDead(fmt.Errorf("no answer to %d keepalives %s apart", missed, c.cfg.Keepalive))
				return
			}
		case <-c.dead:
			return
		}
	}
}

// failure turns an error from a session into what the caller should see:
// an UnreachableError when the connection itself is gone.
func (c *conn) failure(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %s: %w", c.name, what, ctx.Err())
	}
	if !c.isDead() {
		// A session can fail while the transport has not noticed yet; one
		// round trip tells a dead host from a session that merely ended.
		probe := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			probe <- err
		}()
		select {
		case perr := <-probe:
			if perr != nil {
				c.markDead(fmt.Errorf("connection lost: %w", perr))
			}
		case <-time.After(c.cfg.ConnectTimeout):
			c.markDead(fmt.Errorf("no answer within %s after a failed session: %w", c.cfg.ConnectTimeout, err))
		case <-c.dead:
		}
	}
	if c.isDead() {
		return &transport.UnreachableError{Host: c.name, Err: fmt.Errorf("%s: %w", what, c.deadErr)}
	}
	return fmt.Errorf("%s: %s: %w", c.name, what, err)
}

func (c *conn) checkOpen() error {
	select {
	case <-c.closed:
		return fmt.Errorf("%s: connection already closed", c.name)
	default:
	}
	if c.isDead() {
		return &transport.UnreachableError{Host: c.name, Err: c.deadErr}
	}
	return nil
}

// getLoop takes an idle loop session, starts one if the pool has room, or
// waits for one to be returned.
func (c *conn) getLoop(ctx context.Context) (*loopSession, error) {
	select {
	case l := <-c.loops:
		return l, nil
	default:
	}
	select {
	case l := <-c.loops:
		return l, nil
	case c.loopSlot <- struct{}{}:
		l, err := startLoop(ctx, c.client)
		if err != nil {
			<-c.loopSlot
			return nil, c.failure(ctx, "starting a session", err)
		}
		return l, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: waiting for a free session: %w", c.name, ctx.Err())
	case <-c.dead:
		return nil, &transport.UnreachableError{Host: c.name, Err: c.deadErr}
	case <-c.closed:
		return nil, fmt.Errorf("%s: connection already closed", c.name)
	}
}

func (c *conn) putLoop(l *loopSession) {
	if l.broken.Load() || c.isDead() {
		l.close()
		<-c.loopSlot
		return
	}
	select {
	case <-c.closed:
		l.close()
		<-c.loopSlot
	default:
		c.loops <- l
	}
}

// runScript runs a shell script on the host: through a loop session, or a
// session of its own when it needs standard input.
func (c *conn) runScript(ctx context.Context, what, script string, stdin []byte) (transport.Result, error) {
	if err := c.checkOpen(); err != nil {
		return transport.Result{}, err
	}
	if stdin != nil {
		return c.runSession(ctx, what, script, stdin)
	}
	l, err := c.getLoop(ctx)
	if err != nil {
		return transport.Result{}, err
	}
	rc, out, errb, err := l.run(ctx, script)
	c.putLoop(l)
	if err != nil {
		return transport.Result{}, c.failure(ctx, what, err)
	}
	return transport.Result{RC: rc, Stdout: out, Stderr: errb}, nil
}

// runSession runs script in a new session with stdin as its input.
func (c *conn) runSession(ctx context.Context, what, script string, stdin []byte) (transport.Result, error) {
	select {
	case c.extra <- struct{}{}:
		defer func() { <-c.extra }()
	case <-ctx.Done():
		return transport.Result{}, fmt.Errorf("%s: %s: waiting for a free session: %w", c.name, what, ctx.Err())
	case <-c.dead:
		return transport.Result{}, &transport.UnreachableError{Host: c.name, Err: c.deadErr}
	}
	s, err := c.client.NewSession()
	if err != nil {
		return transport.Result{}, c.failure(ctx, what, err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	// The input is written by hand, not through Session.Stdin: a command
	// may end without reading it all, and x/crypto/ssh would then report
	// the refused rest of the input (EOF) instead of the command's exit
	// status.
	in, err := s.StdinPipe()
	if err != nil {
		return transport.Result{}, c.failure(ctx, what, err)
	}
	s.Stdout = &out
	s.Stderr = &errb
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if err := s.Start("exec /bin/sh -c " + Quote(script)); err != nil {
		return transport.Result{}, c.failure(ctx, what, err)
	}
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		if _, err := in.Write(stdin); err == nil {
			in.Close()
		}
	}()
	err = s.Wait()
	// The session is over: a write still blocked on a command that
	// stopped reading ends with the channel.
	s.Close()
	<-fed
	res := transport.Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	if err == nil {
		return res, nil
	}
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		if sig := ee.Signal(); sig != "" {
			res.RC = 128 + signalNumber(sig)
		} else {
			res.RC = ee.ExitStatus()
		}
		return res, nil
	}
	return transport.Result{}, c.failure(ctx, what, err)
}

func signalNumber(sig string) int {
	n := map[string]int{"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9, "SEGV": 11, "PIPE": 13, "ALRM": 14, "TERM": 15, "USR1": 10, "USR2": 12}[sig]
	if n == 0 {
		return 127
	}
	return n
}

// Run runs c.Cmd through sh on the host.
func (c *conn) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	script, err := commandScript(cmd.Cmd, cmd.Dir, cmd.Env)
	if err != nil {
		return transport.Result{}, fmt.Errorf("%s: %w", c.name, err)
	}
	script = c.become(script, cmd.Options)
	var stdin []byte
	if len(cmd.Stdin) > 0 {
		stdin = cmd.Stdin
	}
	res, err := c.runScript(ctx, "running "+shorten(cmd.Cmd), script, stdin)
	if err != nil {
		return res, err
	}
	if err := c.sudoRefused(cmd.Options, res); err != nil {
		return res, err
	}
	return res, nil
}

// become wraps script for opt's privileges.
func (c *conn) become(script string, opt transport.Options) string {
	if !opt.Become {
		return script
	}
	return becomeWrap(script, c.becomeUser(opt))
}

func (c *conn) becomeUser(opt transport.Options) string {
	if opt.BecomeUser != "" {
		return opt.BecomeUser
	}
	return c.cfg.BecomeUser
}

// sudoRefused turns sudo's own refusals into errors that say what to fix;
// the command never ran, so its "rc" would only mislead.
func (c *conn) sudoRefused(opt transport.Options, res transport.Result) error {
	if !opt.Become || res.RC == 0 {
		return nil
	}
	msg := string(res.Stderr)
	first, _, _ := strings.Cut(msg, "\n")
	switch {
	case strings.Contains(msg, "sudo: a password is required"), strings.Contains(msg, "sudo: a terminal is required"):
		return fmt.Errorf("%s: become %s: sudo wants a password, and kplay runs sudo -n (non-interactive); allow the login user NOPASSWD in sudoers: %s",
			c.name, c.becomeUser(opt), strings.TrimSpace(first))
	case strings.Contains(msg, "is not in the sudoers file"), strings.Contains(msg, "is not allowed to execute"),
		strings.Contains(msg, "sudo: unknown user"), strings.Contains(msg, "sudo: not found"), strings.Contains(msg, "sudo: command not found"):
		return fmt.Errorf("%s: become %s: sudo refused: %s", c.name, c.becomeUser(opt), strings.TrimSpace(first))
	}
	return nil
}

func shorten(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// Close ends the loop sessions and the connection.
func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
	drain:
		for {
			select {
			case l := <-c.loops:
				l.close()
			default:
				break drain
			}
		}
		err = c.client.Close()
		for _, h := range slices.Backward(c.hops) {
			h.Close()
		}
		c.markDead(errors.New("connection closed by kplay"))
	})
	if err != nil && !strings.Contains(err.Error(), "use of closed") {
		return fmt.Errorf("%s: close: %w", c.name, err)
	}
	return nil
}
