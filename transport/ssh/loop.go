package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// loopScript is the small POSIX shell program one long-lived session runs.
// It reads framed commands from standard input and runs each in a subshell,
// so a task costs a fork on the host instead of an SSH session plus a shell.
//
// A frame is a header line "TOKEN N" followed by N lines of script. The
// script runs with standard input from /dev/null and the session's standard
// output and error; when it ends the loop writes "TOKEN RC\n" to standard
// output and "TOKEN\n" to standard error. TOKEN is random for every command
// and unset before the script runs, so no output can fake the end of a
// command by accident. Reading lines with the `read` builtin and running
// through `eval` in a subshell keep everything but the command itself inside
// one shell process: nothing is exec'd per command.
//
// One difference from a session per command: a process a command leaves
// running in the background that keeps writing to the inherited standard
// output writes into a later command's output. (With a session per
// command, ssh would instead wait for it.) Background processes should
// redirect their output, as they must under Ansible too.
const loopScript = `while IFS= read -r kp_h; do
kp_t=${kp_h%% *}; kp_n=${kp_h#* }; kp_s=
while [ "$kp_n" -gt 0 ]; do
IFS= read -r kp_l || exit 0
kp_s="$kp_s$kp_l
"
kp_n=$((kp_n - 1))
done
(unset -v kp_h kp_n kp_l kp_t; eval "$kp_s") </dev/null
kp_rc=$?
printf '%s %d\n' "$kp_t" "$kp_rc"
printf '%s\n' "$kp_t" >&2
done`

// loopSession is one session running loopScript. It runs one command at a
// time; the conn keeps a small pool of them.
type loopSession struct {
	client *gossh.Client
	// pid is the loop shell's, which leads the session's process group on
	// the host (sshd starts each session in a new session and group).
	pid    int
	sess   *gossh.Session
	stdin  io.Writer
	stdout io.Reader
	stderr io.Reader
	// broken says the stream is out of step or closed: do not reuse. It is
	// set from a context's AfterFunc too, hence atomic.
	broken atomic.Bool
}

func startLoop(ctx context.Context, client *gossh.Client) (*loopSession, error) {
	s, err := client.NewSession()
	if err != nil {
		return nil, err
	}
	l := &loopSession{sess: s, client: client}
	if l.stdin, err = s.StdinPipe(); err != nil {
		s.Close()
		return nil, err
	}
	if l.stdout, err = s.StdoutPipe(); err != nil {
		s.Close()
		return nil, err
	}
	if l.stderr, err = s.StderrPipe(); err != nil {
		s.Close()
		return nil, err
	}
	// The login shell may print something before the loop starts (a
	// .bashrc run by bash for sshd); a ready mark on both streams lets that
	// be skipped instead of landing in the first command's output.
	ready := newToken()
	script := "printf '%s %d\\n' " + ready + " $$; printf '%s\\n' " + ready + " >&2\n" + loopScript
	if err := s.Start("exec /bin/sh -c " + Quote(script)); err != nil {
		s.Close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, l.close)
	defer stop()
	errc := make(chan error, 1)
	go func() {
		_, _, err := readUntilToken(l.stderr, []byte(ready))
		errc <- err
	}()
	_, pid, err := readUntilToken(l.stdout, []byte(ready))
	l.pid, _ = strconv.Atoi(strings.TrimSpace(string(pid)))
	if err := errors.Join(err, <-errc); err != nil {
		l.close()
		return nil, fmt.Errorf("starting the command loop: %w", ctxOr(ctx, err))
	}
	return l, nil
}

// close ends the session. It may run beside a Write in progress (from a
// context's AfterFunc) and more than once, so it closes the whole channel,
// which x/crypto/ssh guards with its write lock, and never only the write
// side: CloseWrite sets a flag Write reads without that lock. The close
// also wakes a Write blocked on the channel's window, and the loop shell
// sees end of input when sshd closes the session.
func (l *loopSession) close() {
	l.broken.Store(true)
	l.sess.Close()
}

// killWait bounds how long a cancelled command's kill may take.
const killWait = 5 * time.Second

// killRemote kills the loop's process group on the host, over a session of
// its own: closing the session is not enough, since a command that neither
// reads nor writes (sleep, a hung client) goes on running there, and sshd
// keeps the channel open while it holds its output. (The SSH "signal"
// request would do, but OpenSSH refuses it for root logins.) A command
// run through sudo belongs to root; the login then kills it with sudo -n,
// as become needs that anyway.
func (l *loopSession) killRemote() {
	if l.pid <= 1 {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := l.client.NewSession()
		if err != nil {
			return // the connection is gone, and the host's side with it
		}
		defer s.Close()
		p := strconv.Itoa(l.pid)
		s.Run("kill -KILL -- -" + p + " 2>/dev/null || kill -KILL " + p + " 2>/dev/null; " +
			"[ \"$(id -u)\" = 0 ] || sudo -n kill -KILL -- -" + p + " 2>/dev/null; true")
	}()
	select {
	case <-done:
	case <-time.After(killWait):
	}
}

// tokens draws command tokens from a ChaCha8 generator seeded once from
// crypto/rand: as unpredictable, without a getrandom system call (and the
// goroutine stack growth it brought) for every command.
var tokens = struct {
	sync.Mutex
	*mrand.ChaCha8
}{ChaCha8: newTokenSource()}

func newTokenSource() *mrand.ChaCha8 {
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return mrand.NewChaCha8(seed)
}

func newToken() string {
	var b [16]byte
	tokens.Lock()
	tokens.Read(b[:])
	tokens.Unlock()
	return "kplay-" + hex.EncodeToString(b[:])
}

// frame encodes script as one loop frame.
func frame(token, script string) ([]byte, error) {
	if strings.IndexByte(script, 0) >= 0 {
		return nil, errors.New("command contains a NUL byte, which a shell cannot carry")
	}
	if !strings.HasSuffix(script, "\n") {
		script += "\n"
	}
	// The subshell unsets the script variable itself so the command does
	// not see it; eval has its own copy by then.
	script = "unset -v kp_s\n" + script
	n := strings.Count(script, "\n")
	return []byte(token + " " + strconv.Itoa(n) + "\n" + script), nil
}

// run sends one script and collects its result. Any error leaves the
// session broken; the caller then decides whether the host is gone.
func (l *loopSession) run(ctx context.Context, script string) (rc int, stdout, stderr []byte, err error) {
	tok := newToken()
	fr, err := frame(tok, script)
	if err != nil {
		return 0, nil, nil, err
	}
	stop := context.AfterFunc(ctx, l.close)
	defer stop()
	if _, err := l.stdin.Write(fr); err != nil {
		l.broken.Store(true)
		return 0, nil, nil, ctxOr(ctx, err)
	}
	type res struct {
		b   []byte
		err error
	}
	errc := make(chan res, 1)
	go func() {
		b, tail, err := readUntilToken(l.stderr, []byte(tok))
		if err == nil && len(tail) != 0 {
			err = fmt.Errorf("command loop: unexpected %q after the end of a command's error output", tail)
		}
		errc <- res{b, err}
	}()
	type outRes struct {
		b, tail []byte
		err     error
	}
	outc := make(chan outRes, 1)
	go func() {
		b, tail, err := readUntilToken(l.stdout, []byte(tok))
		outc <- outRes{b, tail, err}
	}()
	// When ctx ends, the command is killed on the host and the call
	// returns at once; the readers end with the channel.
	var o outRes
	var er res
	select {
	case o = <-outc:
	case <-ctx.Done():
		l.close()
		l.killRemote()
		return 0, nil, nil, ctx.Err()
	}
	select {
	case er = <-errc:
	case <-ctx.Done():
		l.close()
		l.killRemote()
		return 0, nil, nil, ctx.Err()
	}
	out, tail, oerr := o.b, o.tail, o.err
	if oerr != nil || er.err != nil {
		l.broken.Store(true)
		return 0, nil, nil, ctxOr(ctx, errors.Join(oerr, er.err))
	}
	rc, err = strconv.Atoi(strings.TrimSpace(string(tail)))
	if err != nil {
		l.broken.Store(true)
		return 0, nil, nil, fmt.Errorf("command loop: bad exit status %q", tail)
	}
	return rc, out, er.b, nil
}

func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readUntilToken reads r until tok followed by a newline. It returns what
// came before tok and what came between tok and the newline. It never reads
// past the chunk holding that newline, and the loop writes nothing more
// until the next command is sent.
func readUntilToken(r io.Reader, tok []byte) (before, tail []byte, err error) {
	// Most commands print little or nothing besides the token's line: the
	// buffer starts small and doubles as output comes, instead of a fixed
	// 32 KiB read buffer per stream per command, which was most of what a
	// run allocated (and the GC's work).
	buf := make([]byte, 0, 256)
	searchFrom := 0
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.Index(buf[searchFrom:], tok); i >= 0 {
			at := searchFrom + i
			rest := buf[at+len(tok):]
			if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
				// Bytes after the newline can only come from a process the
				// command left running in the background; they belong to no
				// command, so they are dropped.
				return buf[:at], rest[:nl], nil
			}
			// Token seen, its line not complete yet: keep searching from it.
			searchFrom = at
		} else if len(buf) > len(tok) {
			searchFrom = len(buf) - len(tok)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, io.ErrUnexpectedEOF
			}
			return nil, nil, err
		}
	}
}
