// Package testtools holds helpers shared by the tests of every drmpipe
// package: locating the independent tools (ffmpeg, ffprobe, Shaka Packager),
// generating test media, and decrypting and fingerprinting packaged output
// with those tools; starting test servers; and the small pieces many
// packages' tests repeat (test vectors in hex, the fuzz contract of a
// parser, an event tally). It is imported only from _test.go files.
//
// Missing tools fail the test with an install hint; they never skip it, so a
// green run always means the independent checks ran.
package testtools

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// installHint is appended to every "tool missing" failure.
const installHint = "run `make deps` from the repository root (installs ffmpeg with apt-get and Shaka Packager with `npm ci` in web/)"

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  string
)

// RepoRoot returns the repository root: the nearest parent of the working
// directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		var err error
		if rootDir, err = findRepoRoot(); err != nil {
			rootErr = err.Error()
		}
	})
	if rootDir == "" {
		t.Fatalf("testtools: repository root: %s", rootErr)
	}
	return rootDir
}

// findRepoRoot walks up from the working directory to the one holding go.mod.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getwd: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

// FFmpeg returns the path of the ffmpeg binary on PATH.
func FFmpeg(t testing.TB) string {
	t.Helper()
	return lookTool(t, "ffmpeg")
}

// FFprobe returns the path of the ffprobe binary on PATH.
func FFprobe(t testing.TB) string {
	t.Helper()
	return lookTool(t, "ffprobe")
}

func lookTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("testtools: %s not found on PATH; %s", name, installHint)
	}
	return p
}

// ShakaPackager returns the Shaka Packager binary: $SHAKA_PACKAGER when set,
// else web/node_modules/shaka-packager/bin/packager-linux-x64 under the
// repository root.
func ShakaPackager(t testing.TB) string {
	t.Helper()
	p := os.Getenv("SHAKA_PACKAGER")
	if p == "" {
		p = filepath.Join(RepoRoot(t), "web", "node_modules", "shaka-packager", "bin", "packager-linux-x64")
	}
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("testtools: Shaka Packager not found or not executable at %s; %s (or set SHAKA_PACKAGER)", p, installHint)
	}
	return p
}

// run executes a tool and returns its stdout; any failure (non-zero exit)
// fails the test with the tool's stderr.
func run(t testing.TB, bin string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	return RunIn(t, "", bin, args...)
}

// RunIn runs bin with args in directory dir ("" = the current one) and
// fails the test, with its stderr and key material redacted, when it
// fails.
func RunIn(t testing.TB, dir, bin string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("testtools: %s %s: %v\nstderr:\n%s", filepath.Base(bin), strings.Join(redact(args), " "), err, tail(errb.String(), 4000))
	}
	return out.Bytes(), errb.Bytes()
}

// redact hides key material in an argument list before it is printed:
// the value after -decryption_key / --keys and any key=... field.
func redact(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case i > 0 && (args[i-1] == "-decryption_key" || args[i-1] == "-encryption_key" || args[i-1] == "--keys" || args[i-1] == "--key"):
			out[i] = "<redacted>"
		case strings.HasPrefix(a, "--keys="):
			out[i] = "--keys=<redacted>"
		default:
			out[i] = a
		}
	}
	return out
}

// tail keeps the last n bytes of s for error messages.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// SampleClip is the bundled test clip, testdata/sample.mp4 (10 s of H.264
// 1280x720 with B-frames and AAC; testdata/README.md says how it was
// made), as an absolute path; a missing file fails the test.
func SampleClip(t testing.TB) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "testdata", "sample.mp4")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testtools: bundled clip missing: %v", err)
	}
	return p
}
