// Package interop proves drmpipe's output with tools it did not write:
// every packaged track must decrypt, with ffmpeg and with Shaka Packager, to
// exactly the packets of the clear input, keep the input's timing, and bad
// input must fail cleanly. The tests run the built drmpipe binary.
package interop

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// drmpipeBin is the CLI built once by TestMain, or $DRMPIPE_BIN when set.
var drmpipeBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	defer testtools.CleanupClips()
	if bin := os.Getenv("DRMPIPE_BIN"); bin != "" {
		// Test a given binary (e.g. a release build) instead of building one.
		drmpipeBin = bin
		return m.Run()
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "drmpipe-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	drmpipeBin = filepath.Join(tmp, "drmpipe")
	build := exec.Command("go", "build", "-o", drmpipeBin, "./cmd/drmpipe")
	build.Dir = root
	var stderr bytes.Buffer
	build.Stdout = &stderr
	build.Stderr = &stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: go build ./cmd/drmpipe: %v\n%s", err, stderr.String())
		return 1
	}
	return m.Run()
}

// repoRoot walks up from the working directory to go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// result is one drmpipe run.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("drmpipe %s\nexit %d\nstdout:\n%s\nstderr:\n%s",
		strings.Join(redactArgs(r.args), " "), r.code, r.stdout, r.stderr)
}

// drmpipe runs the CLI and returns its outcome; only failing to start it
// fails the test.
func drmpipe(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(drmpipeBin, args...)
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("start drmpipe: %v", err)
	}
	return r
}

// mustRun runs the CLI and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := drmpipe(t, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	return r
}

// redactArgs hides key values in printed command lines.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if i > 0 && args[i-1] == "--key" {
			a = "<redacted>"
		}
		out[i] = a
	}
	return out
}
