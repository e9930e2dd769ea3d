package posix

import (
	"io/fs"
	"strings"
	"testing"

	"kplay/transport"
)

const sumA = "ca978112ca1bbdcafac231b39a23dc4da786eff8810d4a7bfdabb0e2e7eb1e2b"

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    transport.FileInfo
		wantErr string
	}{
		{name: "absent", out: "absent\n", want: transport.FileInfo{}},
		{name: "file", out: "81a4 root adm 1\n" + sumA + "  -\n",
			want: transport.FileInfo{Exists: true, Mode: 0o644, Owner: "root", Group: "adm", Size: 1, SHA256: sumA}},
		{name: "setuid file", out: "89ed root root 1\n" + sumA + "  -\n",
			want: transport.FileInfo{Exists: true, Mode: 0o4755, Owner: "root", Group: "root", Size: 1, SHA256: sumA}},
		{name: "directory", out: "41ed root root 4096\n",
			want: transport.FileInfo{Exists: true, IsDir: true, Mode: 0o755, Owner: "root", Group: "root", Size: 4096}},
		{name: "sticky dir", out: "43ff root root 4096\n",
			want: transport.FileInfo{Exists: true, IsDir: true, Mode: fs.FileMode(0o1777), Owner: "root", Group: "root", Size: 4096}},
		{name: "file without checksum", out: "81a4 root root 1\n", wantErr: "no checksum"},
		{name: "bad checksum", out: "81a4 root root 1\nxyz  -\n", wantErr: "bad checksum"},
		{name: "garbage", out: "sudo: a password is required\n", wantErr: "unexpected output"},
		{name: "bad hex", out: "zz root root 1\n", wantErr: "unexpected output"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat("/p", tc.out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseStat: whatever a host prints, parsing fails cleanly or gives a
// description with only Unix mode bits.
func FuzzParseStat(f *testing.F) {
	for _, s := range []string{"absent\n", "81a4 root adm 1\n" + sumA + "  -\n", "41ed a b 0\n", "", "\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		fi, err := parseStat("/p", out)
		if err != nil {
			return
		}
		if fi.Mode&^0o7777 != 0 {
			t.Fatalf("mode %o has bits beyond 07777", fi.Mode)
		}
		if fi.SHA256 != "" && len(fi.SHA256) != 64 {
			t.Fatalf("checksum %q from %q", fi.SHA256, out)
		}
	})
}
