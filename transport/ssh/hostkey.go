package ssh

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyError is a refused host key: unknown (and not accepted) or changed.
type hostKeyError struct {
	msg string
}

func (e *hostKeyError) Error() string { return e.msg }

// probeKey is a key no host has; asking known_hosts about it lists the keys
// recorded for a host.
var probeKey = func() gossh.PublicKey {
	k, err := gossh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		panic(err)
	}
	return k
}()

// hostKeyCallback checks host keys against t's known_hosts files. It also
// returns the key algorithms to ask the server for: those of the keys already
// recorded, so a host known by its ed25519 key is not refused as "changed"
// for offering its RSA key first.
func (d *Dialer) hostKeyCallback(t *target) (gossh.HostKeyCallback, []string, error) {
	var existing []string
	for _, f := range t.knownHosts {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	var kh gossh.HostKeyCallback
	if len(existing) > 0 {
		var err error
		kh, err = knownhosts.New(existing...)
		if err != nil {
			return nil, nil, fmt.Errorf("reading known hosts: %w", err)
		}
	}
	var algos []string
	if kh != nil {
		err := kh(t.addr(), &net.TCPAddr{IP: net.IPv4zero}, probeKey)
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			seen := map[string]bool{}
			for _, k := range ke.Want {
				for _, a := range algorithmsFor(k.Key.Type()) {
					if !seen[a] {
						seen[a] = true
						algos = append(algos, a)
					}
				}
			}
		}
	}

	cb := func(hostname string, remote net.Addr, key gossh.PublicKey) error {
		fp := gossh.FingerprintSHA256(key)
		if kh != nil {
			err := kh(hostname, remote, key)
			if err == nil {
				return nil
			}
			var ke *knownhosts.KeyError
			if !errors.As(err, &ke) {
				var re *knownhosts.RevokedError
				if errors.As(err, &re) {
					return &hostKeyError{fmt.Sprintf("host key %s %s for %s is marked revoked in %s:%d", key.Type(), fp, hostname, re.Revoked.Filename, re.Revoked.Line)}
				}
				return err
			}
			if len(ke.Want) > 0 {
				var was []string
				for _, w := range ke.Want {
					was = append(was, fmt.Sprintf("%s %s at %s:%d", w.Key.Type(), gossh.FingerprintSHA256(w.Key), w.Filename, w.Line))
				}
				return &hostKeyError{fmt.Sprintf("HOST KEY CHANGED for %s: it offers %s %s, but known hosts say %s; someone may be intercepting the connection, or the host was reinstalled: check out of band, then remove the old line",
					hostname, key.Type(), fp, strings.Join(was, "; "))}
			}
		}
		if !t.acceptNew {
			return &hostKeyError{fmt.Sprintf("unknown host key for %s: %s %s is not in %s; check the fingerprint out of band and add it, or accept new keys (--accept-new-host-keys, or host var %s: accept-new)",
				hostname, key.Type(), fp, strings.Join(t.knownHosts, ", "), VarHostKeyChecking)}
		}
		if err := d.recordHostKey(t.recordTo, hostname, key); err != nil {
			return &hostKeyError{fmt.Sprintf("accepting new host key %s %s for %s: %v", key.Type(), fp, hostname, err)}
		}
		return nil
	}
	return cb, algos, nil
}

// algorithmsFor lists the signature algorithms that prove a key of type typ.
func algorithmsFor(typ string) []string {
	if typ == gossh.KeyAlgoRSA {
		return []string{gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA}
	}
	return []string{typ}
}

// recordHostKey appends a known_hosts line for hostname, holding an flock on
// the file so concurrent kplay runs (or ssh) do not interleave their lines.
func (d *Dialer) recordHostKey(file, hostname string, key gossh.PublicKey) error {
	d.knownHostsMu.Lock()
	defer d.knownHostsMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", file, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	old, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)
	for _, l := range bytes.Split(old, []byte("\n")) {
		if string(bytes.TrimSpace(l)) == line {
			return nil // another run recorded it while we waited for the lock
		}
	}
	var b []byte
	if len(old) > 0 && old[len(old)-1] != '\n' {
		b = append(b, '\n')
	}
	b = append(b, line...)
	b = append(b, '\n')
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}
