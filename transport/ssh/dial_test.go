package ssh_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"kplay/internal/sshdtest"
	"kplay/transport"
	kssh "kplay/transport/ssh"
)

// echoServer answers each line it reads with "echo: " and the line.
func echoServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Write([]byte("echo: " + line))
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func TestDialHost(t *testing.T) {
	e := setup(t, 1)
	c := dial(t, kssh.NewDialer(e.config()), spec(e.c.Servers[0]))
	hd, ok := c.(transport.HostDialer)
	if !ok {
		t.Fatal("the SSH connection does not implement transport.HostDialer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("open", func(t *testing.T) {
		nc, err := hd.DialHost(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(echoServer(t))))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write([]byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		got, err := bufio.NewReader(nc).ReadString('\n')
		if err != nil || got != "echo: hello\n" {
			t.Fatalf("read %q, %v", got, err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = hd.DialHost(ctx, "tcp", addr)
		if err == nil || errors.Is(err, transport.ErrDialForbidden) || !strings.Contains(strings.ToLower(err.Error()), "refused") {
			t.Fatalf("err %v, want the host's connection refused", err)
		}
	})
	t.Run("host gone", func(t *testing.T) {
		c2 := dial(t, kssh.NewDialer(e.config()), spec(e.c.Servers[0]))
		e.c.Servers[0].KillConnections()
		var err error
		for i := 0; i < 100; i++ { // until the client has seen the connection end
			if _, err = c2.(transport.HostDialer).DialHost(ctx, "tcp", "127.0.0.1:1"); errors.As(err, new(*transport.UnreachableError)) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		var ue *transport.UnreachableError
		if !errors.As(err, &ue) {
			t.Fatalf("err %v, want *transport.UnreachableError", err)
		}
	})
}

func TestDialHostForbidden(t *testing.T) {
	key := sshdtest.NewUserKeyT(t)
	cl := sshdtest.StartT(t, 1, sshdtest.Config{
		AuthorizedKeys: []gossh.PublicKey{key.Public},
		ExtraConfig:    "AllowTcpForwarding no",
	})
	e := &env{c: cl, key: key, home: t.TempDir(), kh: t.TempDir() + "/known_hosts"}
	if err := cl.WriteKnownHosts(e.kh); err != nil {
		t.Fatal(err)
	}
	c := dial(t, kssh.NewDialer(e.config()), spec(cl.Servers[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.(transport.HostDialer).DialHost(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(echoServer(t))))
	if !errors.Is(err, transport.ErrDialForbidden) {
		t.Fatalf("err %v, want transport.ErrDialForbidden", err)
	}
}

// ServerAliveInterval and ServerAliveCountMax in ~/.ssh/config set how soon
// a silent host is given up, per host.
func TestKeepaliveFromSSHConfig(t *testing.T) {
	e := setup(t, 1)
	s := e.c.Servers[0]
	cfg := e.config()
	writeSSHConfig := func(t *testing.T, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(cfg.Home, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfg.Home, ".ssh", "config"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("bad value", func(t *testing.T) {
		writeSSHConfig(t, "Host "+s.Addr+"\n  ServerAliveCountMax none\n")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := kssh.NewDialer(cfg).Dial(ctx, spec(s))
		if err == nil || !strings.Contains(err.Error(), `ServerAliveCountMax "none"`) {
			t.Fatalf("err %v, want the bad ServerAliveCountMax named", err)
		}
	})
	t.Run("silent host", func(t *testing.T) {
		writeSSHConfig(t, "Host "+s.Addr+"\n  ServerAliveInterval 1\n  ServerAliveCountMax 2\n")
		c := dial(t, kssh.NewDialer(cfg), spec(s))
		run(t, c, transport.Command{Cmd: "true"})
		s.Freeze()
		defer s.Thaw()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, err := c.Run(ctx, transport.Command{Cmd: "true"})
		if !transport.IsUnreachable(err) || !strings.Contains(err.Error(), "no answer to 2 keepalives 1s apart") {
			t.Fatalf("error %v, want unreachable after 2 keepalives 1s apart", err)
		}
	})
}
