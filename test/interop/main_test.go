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
	return testtools.MainWithDrmpipe(m, "interop", &drmpipeBin)
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
