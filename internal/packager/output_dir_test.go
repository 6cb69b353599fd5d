package packager

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestStagingDirRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "precious.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := stagingDir(out); !errors.Is(err, ErrConfig) {
		t.Fatalf("want ErrConfig for a foreign non-empty dir, got %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := stagingDir(file); !errors.Is(err, ErrOutputExists) {
		t.Fatalf("want ErrOutputExists, got %v", err)
	}
}

func TestCommitReplacesPreviousOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	for i, name := range []string{"first", "second"} {
		tmp, err := stagingDir(out)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		os.WriteFile(filepath.Join(tmp, name), nil, 0o644)
		if err := commitDir(tmp, out); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "first")); err == nil {
		t.Error("old output not replaced")
	}
	if _, err := os.Stat(filepath.Join(out, "second")); err != nil {
		t.Error("new output missing")
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".out*"))
	if len(left) != 0 {
		t.Errorf("staging left behind: %v", left)
	}
}
