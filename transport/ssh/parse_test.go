package ssh

import (
	"bytes"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"kplay/transport"
)

// Quote must give back exactly its input through a real sh.
func TestQuote(t *testing.T) {
	cases := []string{"", "plain", "it's", "''", `a"b`, "$HOME", "$(id)", "`id`", "a\nb", "back\\slash", "*?[", " lead", "trail ", "\t", "ü", "x'y'z'"}
	for _, s := range cases {
		t.Run(s, func(t *testing.T) {
			out, err := exec.Command("/bin/sh", "-c", "printf %s "+Quote(s)).Output()
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != s {
				t.Errorf("sh got %q, want %q", out, s)
			}
		})
	}
}

// The loop script must behave the same through a local sh as through sshd:
// framed commands in, output and rc out.
func TestLoopScriptLocally(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", loopScript)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	cases := []struct {
		script, out, errOut string
		rc                  int
	}{
		{"echo hi", "hi\n", "", 0},
		{"printf x; printf y >&2; exit 4", "x", "y", 4},
		{"cat", "", "", 0},
		{"a='line\n\nwith blank lines\\'\necho \"$a\"", "line\n\nwith blank lines\\\n", "", 0},
		{"  echo '  x  '", "  x  \n", "", 0},
	}
	for _, tc := range cases {
		tok := newToken()
		fr, err := frame(tok, tc.script)
		if err != nil {
			t.Fatal(err)
		}
		stdin.Write(fr)
		errc := make(chan []byte, 1)
		go func() { b, _, _ := readUntilToken(stderr, []byte(tok)); errc <- b }()
		out, tail, err := readUntilToken(stdout, []byte(tok))
		e := <-errc
		if err != nil {
			t.Fatalf("%q: %v", tc.script, err)
		}
		if string(out) != tc.out || string(e) != tc.errOut || string(tail) != " "+strconv.Itoa(tc.rc) {
			t.Errorf("%q: out %q err %q tail %q", tc.script, out, e, tail)
		}
	}
}

func TestReadUntilToken(t *testing.T) {
	tok := []byte("kplay-0123")
	cases := []struct {
		name, in, before, tail string
		err                    bool
	}{
		{name: "simple", in: "out\nkplay-0123 0\n", before: "out\n", tail: " 0"},
		{name: "no newline before token", in: "outkplay-0123 12\n", before: "out", tail: " 12"},
		{name: "stray bytes after", in: "kplay-0123 1\nlate", before: "", tail: " 1"},
		{name: "partial token is output", in: "kplay-012kplay-0123 0\n", before: "kplay-012", tail: " 0"},
		{name: "eof", in: "out", err: true},
		{name: "eof after token", in: "outkplay-0123 0", err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// One byte a read, so every split of the token is exercised.
			before, tail, err := readUntilToken(iotest.OneByteReader(strings.NewReader(tc.in)), tok)
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if !tc.err && (string(before) != tc.before || string(tail) != tc.tail) {
				t.Errorf("got %q %q, want %q %q", before, tail, tc.before, tc.tail)
			}
		})
	}
}

func FuzzReadUntilToken(f *testing.F) {
	f.Add([]byte("hello\n"), uint8(3))
	f.Add([]byte{0, 1, 2, 'k', 'p'}, uint8(1))
	f.Fuzz(func(t *testing.T, payload []byte, chunk uint8) {
		tok := []byte("kplay-fuzztoken")
		if bytes.Contains(payload, tok) {
			return
		}
		in := append(append(append([]byte{}, payload...), tok...), " 7\n"...)
		r := io.Reader(bytes.NewReader(in))
		if chunk%2 == 0 {
			r = iotest.OneByteReader(r)
		}
		before, tail, err := readUntilToken(r, tok)
		if err != nil || !bytes.Equal(before, payload) || string(tail) != " 7" {
			t.Fatalf("got %q %q %v", before, tail, err)
		}
	})
}

func TestParseStat(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	cases := []struct {
		name string
		in   string
		want transport.FileInfo
		err  bool
	}{
		{name: "missing", in: "missing\n", want: transport.FileInfo{}},
		{name: "file", in: "-rw-r----- 1 root kube 42 Nov 25 03:00 /etc/x\n" + sum + "  -\n",
			want: transport.FileInfo{Exists: true, Mode: 0o640, Owner: "root", Group: "kube", Size: 42, SHA256: sum}},
		{name: "directory", in: "drwxr-xr-x 2 root root 4096 Nov 25 03:00 /etc\n",
			want: transport.FileInfo{Exists: true, IsDir: true, Mode: 0o755, Owner: "root", Group: "root", Size: 4096}},
		{name: "setuid and sticky", in: "-rwsr-xr-T 1 1000 1000 5 Jan  1  2020 f\n" + sum + " *stdin\n",
			want: transport.FileInfo{Exists: true, Mode: 0o5754, Owner: "1000", Group: "1000", Size: 5, SHA256: sum}},
		{name: "acl marker", in: "-rw-r--r--+ 1 a b 0 Jan  1  2020 f\n" + sum + "  -\n",
			want: transport.FileInfo{Exists: true, Mode: 0o644, Owner: "a", Group: "b", SHA256: sum}},
		{name: "garbage", in: "what\n", err: true},
		{name: "setgid and sticky executable", in: "drwxrws--t 2 a b 0 Jan  1  2020 d\n",
			want: transport.FileInfo{Exists: true, IsDir: true, Mode: 0o3771, Owner: "a", Group: "b"}},
		{name: "letter in the wrong place", in: "-rwxr-xr-s 1 a b 0 Jan  1  2020 f\n", err: true},
		{name: "bad mode", in: "-rw-r--r-Q 1 a b 0 Jan  1  2020 f\n", err: true},
		{name: "bad checksum", in: "-rw-r--r-- 1 a b 0 Jan  1  2020 f\nxyz  -\n", err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if !tc.err && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add("-rw-r--r-- 1 root root 42 Nov 25 03:00 /etc/x\n" + strings.Repeat("0", 64) + "  -\n")
	f.Add("missing\n")
	f.Add("drwx------ 2 a b 1 x y z d\n")
	f.Fuzz(func(t *testing.T, s string) {
		fi, err := parseStat(s)
		if err == nil && fi.Mode&^0o7777 != 0 {
			t.Fatalf("mode %o has more than Unix mode bits", fi.Mode)
		}
	})
}
