// Command floor runs the benchmark workload the simplest way x/crypto/ssh
// allows: one connection per host, one session per command, every host at
// once. It is how spot, the strongest Go peer, works, and the floor kplay is
// measured against.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"kplay/bench/workload"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: floor SPEC.json")
		os.Exit(2)
	}
	spec, err := workload.Load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	key, err := os.ReadFile(spec.KeyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	hk, err := knownhosts.New(spec.KnownHosts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	blob, err := os.ReadFile(spec.Blob)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg := &ssh.ClientConfig{User: spec.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	failed := make(chan error, len(spec.Hosts))
	for _, h := range spec.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runHost(cfg, spec, h, blob); err != nil {
				failed <- fmt.Errorf("%s: %w", h.Name, err)
			}
		}()
	}
	wg.Wait()
	close(failed)
	rc := 0
	for err := range failed {
		fmt.Fprintln(os.Stderr, err)
		rc = 2
	}
	os.Exit(rc)
}

func runHost(cfg *ssh.ClientConfig, spec *workload.Spec, h workload.Host, blob []byte) error {
	c, err := ssh.Dial("tcp", h.Addr+":"+strconv.Itoa(h.Port), cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	run := func(cmd string, stdin []byte) ([]byte, error) {
		s, err := c.NewSession()
		if err != nil {
			return nil, err
		}
		defer s.Close()
		if stdin != nil {
			s.Stdin = bytes.NewReader(stdin)
		}
		return s.CombinedOutput(cmd)
	}
	for range workload.Shells {
		if out, err := run("true", nil); err != nil {
			return fmt.Errorf("true: %v: %s", err, out)
		}
	}
	upload := func(dst string, content []byte) error {
		q := "'" + dst + "'"
		out, err := run("cat > "+q+".tmp && chmod 0644 "+q+".tmp && mv -f "+q+".tmp "+q, content)
		if err != nil {
			return fmt.Errorf("upload %s: %v: %s", dst, err, out)
		}
		return nil
	}
	if err := upload(workload.BlobDest(spec.DestRoot, h.Name), blob); err != nil {
		return err
	}
	if err := upload(workload.TemplateDest(spec.DestRoot, h.Name), []byte(workload.Render(h.Name))); err != nil {
		return err
	}
	if out, err := run("hostname", nil); err != nil {
		return fmt.Errorf("hostname: %v: %s", err, out)
	}
	return nil
}
