package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/filelock"
)

// markerFile (MarkerName) marks a directory written by drmpipe, so that a
// re-run may replace it. Any other non-empty directory is refused:
// packaging never deletes files it did not write.
const markerFile = MarkerName

// Beside an output OUT, a run keeps a lock file .OUT.lock, held for its
// lifetime, and writes into a staging directory .OUT.partial-NNNN (NNNN
// random digits). Holding the lock proves that no other run of OUT is alive,
// so every staging directory found beside OUT then belongs to a dead run (or
// is an old output whose removal was interrupted) and is removed.
const (
	lockSuffix    = ".lock"
	stagingInfix  = ".partial-"
	asideSuffix   = ".old"
	stagingDigits = "0123456789"
)

// replacement says how commit put a finished output in place.
type replacement int

const (
	// published: there was no output; one rename moved it in.
	published replacement = iota + 1
	// exchanged: renameat2 RENAME_EXCHANGE swapped the new and the old
	// output in one step; the output path never went missing.
	exchanged
	// renamedAside: no atomic exchange here; the old output was renamed
	// aside and the new one renamed in, two steps between which the output
	// path is missing.
	renamedAside
)

func (r replacement) String() string {
	switch r {
	case published:
		return "published"
	case exchanged:
		return "exchanged"
	case renamedAside:
		return "renamed aside"
	}
	return "replacement(" + strconv.Itoa(int(r)) + ")"
}

// staging is one run's hidden working copy of an output directory: the
// whole output is written into it and commit moves it into place, manifests
// already last inside it, so that an interrupted run never leaves an output
// that looks complete, nor disturbs the one published before.
type staging struct {
	dir    string // the output directory (-o)
	path   string // the staging directory beside it
	lock   string // the lock file beside it; "" when locking is unsupported
	unlock func()
	// warnings name what dead runs left that openStaging removed, or could
	// not remove.
	warnings []string
}

// openStaging locks dir against other runs, removes what dead runs left
// beside it, and creates the staging directory. A non-empty dir that
// drmpipe did not write is refused, as is a dir another live run is
// writing (ErrOutputBusy): of two concurrent runs on one output, the later
// one fails at once instead of racing the first.
func openStaging(dir string) (*staging, error) {
	if err := checkReplaceable(dir); err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("output %s: %w", dir, err)
	}
	s := &staging{dir: dir, lock: filepath.Join(parent, "."+base+lockSuffix)}
	unlock, err := filelock.TryLock(s.lock)
	switch {
	case err == nil:
		s.unlock = unlock
		// The PID only names the holder in a busy error; the lock decides.
		_ = os.WriteFile(s.lock, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
		s.warnings = removeStale(parent, base)
	case errors.Is(err, filelock.ErrLocked):
		holder, _ := os.ReadFile(s.lock)
		return nil, fmt.Errorf("%w: %s (lock %s, pid %s)", ErrOutputBusy, dir, s.lock, strings.TrimSpace(string(holder)))
	case errors.Is(err, errors.ErrUnsupported):
		// Without locks a live run's staging cannot be told from a dead
		// one's: leave all of them.
		s.lock = ""
	default:
		return nil, fmt.Errorf("lock output %s: %w", dir, err)
	}
	s.path, err = os.MkdirTemp(parent, "."+base+stagingInfix+"*")
	if err == nil {
		err = os.Chmod(s.path, 0o755)
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("output %s: %w", dir, err)
	}
	return s, nil
}

// checkReplaceable refuses an output path that is a file, or a non-empty
// directory without drmpipe's marker.
func checkReplaceable(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("%w: %s", ErrOutputExists, dir)
	case err == nil:
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("output %s: %w", dir, err)
		}
		if len(entries) > 0 {
			if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
				return fmt.Errorf("%w: %s; choose another directory or empty it", ErrNotEmpty, dir)
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("output %s: %w", dir, err)
	}
	return nil
}

// isStagingName reports whether name is a staging directory of the output
// named base (or an old output renamed aside from one), and not, say, the
// staging directory of an output named "base.partial-x".
func isStagingName(name, base string) bool {
	rest, ok := strings.CutPrefix(name, "."+base+stagingInfix)
	if !ok {
		return false
	}
	rest = strings.TrimSuffix(rest, asideSuffix)
	return rest != "" && strings.Trim(rest, stagingDigits) == ""
}

// removeStale removes the staging directories beside the output named base
// in parent, and returns one warning for each. Only a run holding the
// output's lock may call it. Failing to remove them does not fail the run.
func removeStale(parent, base string) (warnings []string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return []string{fmt.Sprintf("cannot look for staging of interrupted runs: %v", err)}
	}
	for _, e := range entries {
		if !e.IsDir() || !isStagingName(e.Name(), base) {
			continue
		}
		p := filepath.Join(parent, e.Name())
		if err := os.RemoveAll(p); err != nil {
			warnings = append(warnings, fmt.Sprintf("cannot remove staging of an interrupted run: %v", err))
			continue
		}
		warnings = append(warnings, "removed staging of an interrupted run: "+p)
	}
	return warnings
}

// commit moves the finished staging directory to the output path. An
// existing output is exchanged with it in one step where the kernel and
// filesystem can (Linux renameat2 RENAME_EXCHANGE), else renamed aside
// first; close removes the old output.
func (s *staging) commit() (replacement, error) {
	marker := fmt.Sprintf("written by drmpipe at %s\n", time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(s.path, markerFile), []byte(marker), 0o644); err != nil {
		return 0, err
	}
	if _, err := os.Lstat(s.dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(s.path, s.dir); err != nil {
			return 0, fmt.Errorf("publish %s: %w", s.dir, err)
		}
		return published, nil
	}
	switch err := exchangeDirs(s.path, s.dir); {
	case err == nil:
		return exchanged, nil // the old output is now at s.path
	case !errors.Is(err, errors.ErrUnsupported):
		return 0, fmt.Errorf("replace %s: %w", s.dir, err)
	}
	// Between these two renames the output path is missing; a run killed
	// there leaves the old and the new output hidden beside it, and the
	// next run removes both.
	aside := s.path + asideSuffix
	if err := os.Rename(s.dir, aside); err != nil {
		return 0, fmt.Errorf("replace %s: %w", s.dir, err)
	}
	if err := os.Rename(s.path, s.dir); err != nil {
		_ = os.Rename(aside, s.dir)
		return 0, fmt.Errorf("replace %s: %w", s.dir, err)
	}
	return renamedAside, nil
}

// close removes the staging directory (the unfinished output, or after an
// exchange the old one) and any old output renamed aside, then releases the
// lock. What it cannot remove, the next run does.
func (s *staging) close() {
	if s.path != "" {
		_ = os.RemoveAll(s.path)
		_ = os.RemoveAll(s.path + asideSuffix)
	}
	if s.unlock != nil {
		// Removed while still held, so that no lock file outlives the run
		// (filelock.TryLock tolerates this).
		_ = os.Remove(s.lock)
		s.unlock()
	}
}

// WriteFileAtomic writes data to name with permissions perm through a
// temporary file in the same directory and a rename, so a reader sees the
// old file or the whole new one, never part of it.
func WriteFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// OpenLocalOutput opens the local output directory dir for one run: the
// run writes into a hidden staging directory beside it, and Publish writes
// the manifests there (each atomically, in order) and moves it into place,
// replacing an earlier output in one step where the kernel can. A
// non-empty dir that drmpipe did not write is refused (ErrNotEmpty), as is
// a dir another live run is writing (ErrOutputBusy). Warnings names what
// dead runs left beside dir that was removed.
func OpenLocalOutput(dir string) (*LocalOutput, error) {
	s, err := openStaging(dir)
	if err != nil {
		return nil, err
	}
	return &LocalOutput{s}, nil
}

// LocalOutput is a local output directory (see OpenLocalOutput).
type LocalOutput struct{ *staging }

var _ Output = (*LocalOutput)(nil)

// Warnings names what interrupted runs left beside the output that was
// removed, or could not be.
func (o *LocalOutput) Warnings() []string { return o.warnings }

// Write writes a file made of parts at name (slash-separated) inside the
// staging directory.
func (s *staging) Write(_ context.Context, name string, parts ...[]byte) error {
	p := filepath.Join(s.path, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	for _, b := range parts {
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// Publish writes the manifests into the staging directory and moves it
// into place.
func (s *staging) Publish(_ context.Context, manifests []File) error {
	for _, m := range manifests {
		if err := WriteFileAtomic(filepath.Join(s.path, filepath.FromSlash(m.Name)), m.Data, 0o644); err != nil {
			return err
		}
	}
	_, err := s.commit()
	return err
}

// Close removes what is left of the staging directory and unlocks.
func (s *staging) Close() error {
	s.close()
	return nil
}

// Location is the output directory.
func (s *staging) Location() string { return s.dir }
