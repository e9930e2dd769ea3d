// Command kplayrun runs the benchmark workload through kplay's SSH
// transport (transport/ssh) directly: what the kplay command does for this
// workload, without its playbook and inventory layer. The benchmark uses it
// when bin/kplay is not built.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"kplay/bench/workload"
	"kplay/transport"
	kssh "kplay/transport/ssh"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kplayrun SPEC.json")
		os.Exit(2)
	}
	spec, err := workload.Load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	blob, err := os.ReadFile(spec.Blob)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	d := kssh.NewDialer(kssh.Config{User: spec.User, KeyFiles: []string{spec.KeyFile}, KnownHostsFiles: []string{spec.KnownHosts}, Agent: "none", SSHConfigFile: "none"})
	ctx := context.Background()
	var wg sync.WaitGroup
	failed := make(chan error, len(spec.Hosts))
	for _, h := range spec.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runHost(ctx, d, spec, h, blob); err != nil {
				failed <- err
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

func runHost(ctx context.Context, d transport.Dialer, spec *workload.Spec, h workload.Host, blob []byte) error {
	c, err := d.Dial(ctx, transport.HostSpec{Name: h.Name, Address: h.Addr, Port: h.Port})
	if err != nil {
		return err
	}
	defer c.Close()
	for range workload.Shells {
		if r, err := c.Run(ctx, transport.Command{Cmd: "true"}); err != nil || r.RC != 0 {
			return fmt.Errorf("%s: true: rc %d %v", h.Name, r.RC, err)
		}
	}
	if err := c.WriteFile(ctx, transport.File{Path: workload.BlobDest(spec.DestRoot, h.Name), Content: blob, Mode: 0o644}); err != nil {
		return err
	}
	if err := c.WriteFile(ctx, transport.File{Path: workload.TemplateDest(spec.DestRoot, h.Name), Content: []byte(workload.Render(h.Name)), Mode: 0o644}); err != nil {
		return err
	}
	if r, err := c.Run(ctx, transport.Command{Cmd: "hostname"}); err != nil || r.RC != 0 {
		return fmt.Errorf("%s: hostname: rc %d %v", h.Name, r.RC, err)
	}
	return nil
}
