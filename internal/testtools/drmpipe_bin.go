package testtools

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MainWithDrmpipe is the body of a TestMain for tests that run the drmpipe
// CLI: it sets *bin to the CLI (see BuildDrmpipe), runs m and returns its
// exit code, or 1 when there is no CLI to run (said on stderr under name).
func MainWithDrmpipe(m *testing.M, name string, bin *string) int {
	b, cleanup, err := BuildDrmpipe("drmpipe-" + name + "-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	defer cleanup()
	*bin = b
	return m.Run()
}

// BuildDrmpipe gives a TestMain the drmpipe CLI to run: $DRMPIPE_BIN when
// set (to test a given binary, e.g. a release build), else ./cmd/drmpipe
// built into a new temporary directory whose name starts with prefix.
// cleanup removes that directory; call it after m.Run.
func BuildDrmpipe(prefix string) (bin string, cleanup func(), err error) {
	if bin := os.Getenv("DRMPIPE_BIN"); bin != "" {
		return bin, func() {}, nil
	}
	root, err := findRepoRoot()
	if err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(tmp, "drmpipe")
	build := exec.Command("go", "build", "-o", bin, "./cmd/drmpipe")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("go build ./cmd/drmpipe: %w\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(tmp) }, nil
}
