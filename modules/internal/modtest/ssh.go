package modtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"kplay/internal/sshdtest"
	"kplay/transport"
	kssh "kplay/transport/ssh"
)

// sshConn is a connection to a real sshd on a loopback address, opened by
// Main for the whole test binary; nil under -short. The sshd runs on this
// machine, so the paths a case sets up are the host's paths too.
var sshConn transport.Conn

// Main runs a module package's tests. Unless -short, it first starts one
// real OpenSSH server and logs in to it, and Case.Test then runs every case
// a second time over that connection, as kplay reaches a real host. Use it
// as `func TestMain(m *testing.M) { os.Exit(modtest.Main(m)) }`.
func Main(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	stop, err := startSSH()
	if err != nil {
		fmt.Fprintf(os.Stderr, "modtest: the module tests over SSH need a real sshd: %v\n", err)
		return 1
	}
	code := m.Run()
	if err := stop(); err != nil && code == 0 {
		fmt.Fprintf(os.Stderr, "modtest: stopping sshd: %v\n", err)
		code = 1
	}
	return code
}

func startSSH() (stop func() error, err error) {
	if err := sshdtest.Prereqs(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kplay-modtest-")
	if err != nil {
		return nil, err
	}
	// sshd reads authorized_keys below dir as the user logging in.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	key, err := sshdtest.NewUserKey(dir, "id_ed25519")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cl, err := sshdtest.Start(1, filepath.Join(dir, "sshd"), sshdtest.Config{AuthorizedKeys: []gossh.PublicKey{key.Public}})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cleanup := func() error {
		err := cl.Stop()
		return errors.Join(err, os.RemoveAll(dir))
	}
	kh := filepath.Join(dir, "known_hosts")
	home := filepath.Join(dir, "home")
	if err := errors.Join(cl.WriteKnownHosts(kh), os.Mkdir(home, 0o700)); err != nil {
		return nil, errors.Join(err, cleanup())
	}
	d := kssh.NewDialer(kssh.Config{User: "root", KeyFiles: []string{key.Path}, KnownHostsFiles: []string{kh},
		Home: home, Agent: "none", ConnectTimeout: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := cl.Servers[0]
	c, err := d.Dial(ctx, transport.HostSpec{Name: "sshhost", Address: s.Addr, Port: s.Port})
	if err != nil {
		return nil, errors.Join(err, cleanup())
	}
	sshConn = c
	return func() error {
		sshConn = nil
		return errors.Join(c.Close(), cleanup())
	}, nil
}
