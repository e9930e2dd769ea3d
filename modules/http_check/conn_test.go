package http_check

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"kplay/transport"
)

// localConn is a minimal transport.Conn on this machine, for tests only,
// until transport/local is on main.
type localConn struct{}

func (localConn) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", c.Cmd)
	cmd.Dir = c.Dir
	var out, errb []byte
	o, err := cmd.Output()
	out = o
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		errb = ee.Stderr
		return transport.Result{RC: ee.ExitCode(), Stdout: out, Stderr: errb}, nil
	}
	return transport.Result{Stdout: out}, err
}

func (localConn) Stat(ctx context.Context, path string, _ transport.Options) (transport.FileInfo, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return transport.FileInfo{}, nil
	}
	if err != nil {
		return transport.FileInfo{}, err
	}
	return transport.FileInfo{Exists: true, IsDir: st.IsDir(), Mode: st.Mode().Perm(), Size: st.Size()}, nil
}

func (localConn) ReadFile(ctx context.Context, path string, _ transport.Options) ([]byte, error) {
	return os.ReadFile(path)
}

func (localConn) WriteFile(ctx context.Context, f transport.File) error {
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".kplay-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(f.Content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.Path)
}

func (localConn) Close() error { return nil }
