package packager

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// markerFile marks a directory written by drmpipe, so that a re-run may
// replace it. Any other non-empty directory is refused: packaging never
// deletes files it did not write.
const markerFile = ".drmpipe-output"

// stagingDir creates a hidden sibling directory of dir in which the whole
// output is written; commit renames it into place so that an interrupted run
// never leaves an output that looks complete.
func stagingDir(dir string) (string, error) {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return "", fmt.Errorf("%w: %s", ErrOutputExists, dir)
	case err == nil:
		entries, err := os.ReadDir(dir)
		if err != nil {
			return "", fmt.Errorf("output %s: %w", dir, err)
		}
		if len(entries) > 0 {
			if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
				return "", fmt.Errorf("%w: output directory %s is not empty and was not written by drmpipe; choose another directory or empty it", ErrConfig, dir)
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("output %s: %w", dir, err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("output %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".partial-")
	if err != nil {
		return "", fmt.Errorf("output %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	return tmp, nil
}

// commitDir moves the finished staging directory to dir, replacing a
// previous drmpipe output there.
func commitDir(tmp, dir string) error {
	marker := fmt.Sprintf("written by drmpipe at %s\n", time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(tmp, markerFile), []byte(marker), 0o644); err != nil {
		return err
	}
	if _, err := os.Stat(dir); err == nil {
		old := tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("replace %s: %w", dir, err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			_ = os.Rename(old, dir)
			return fmt.Errorf("replace %s: %w", dir, err)
		}
		return os.RemoveAll(old)
	}
	return os.Rename(tmp, dir)
}

// writeFileAtomic writes data to name via a temporary file and rename.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
