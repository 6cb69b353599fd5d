package storage

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestOpenStagingRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "precious.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openStaging(out); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("want ErrNotEmpty for a foreign non-empty dir, got %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := openStaging(file); !errors.Is(err, ErrOutputExists) {
		t.Fatalf("want ErrOutputExists, got %v", err)
	}
}

// publish runs openStaging, writes one file named name and commits.
func publish(t *testing.T, out, name string) replacement {
	t.Helper()
	st, err := openStaging(out)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if err := os.WriteFile(filepath.Join(st.path, name), []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
	how, err := st.commit()
	if err != nil {
		t.Fatal(err)
	}
	return how
}

func TestCommitReplacesPreviousOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	if how := publish(t, out, "first"); how != published {
		t.Errorf("first output: replacement %d, want published", how)
	}
	publish(t, out, "second")
	if _, err := os.Stat(filepath.Join(out, "first")); err == nil {
		t.Error("old output not replaced")
	}
	if _, err := os.Stat(filepath.Join(out, "second")); err != nil {
		t.Error("new output missing")
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".out*"))
	if len(left) != 0 {
		t.Errorf("staging or lock left behind: %v", left)
	}
}

// TestReplaceKeepsOutputPublished: while outputs replace each other, a
// reader looking at the output path all the time always finds a complete
// output (its marker), because on Linux the replacement is one
// renameat2(RENAME_EXCHANGE), not two renames with a gap between them.
func TestReplaceKeepsOutputPublished(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	publish(t, out, "v0")
	var stop atomic.Bool
	var looks, missing atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			looks.Add(1)
			if _, err := os.Lstat(filepath.Join(out, markerFile)); err != nil {
				missing.Add(1)
			}
		}
	})
	hows := map[replacement]int{}
	for i := range 100 {
		hows[publish(t, out, "v"+strconv.Itoa(i+1))]++
	}
	stop.Store(true)
	wg.Wait()
	if runtime.GOOS == "linux" && hows[exchanged] != 100 {
		t.Errorf("replacements %v, want all %v on this filesystem", hows, exchanged)
	}
	if n := missing.Load(); n > 0 {
		t.Errorf("the output was missing in %d of %d looks during replacements %v", n, looks.Load(), hows)
	}
	t.Logf("%d looks, replacements %v", looks.Load(), hows)
}

// TestOpenStagingRemovesStaleKeepsLive: a run removes the staging
// directories dead runs left beside its output (and old outputs renamed
// aside), nothing else; a second run while the first is alive fails with
// ErrOutputBusy and leaves the first's staging alone.
func TestOpenStagingRemovesStaleKeepsLive(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	stale := []string{".out.partial-123", ".out.partial-456.old"}
	kept := []string{".out.partial-x", ".out.partial-1.partial-2", ".outer.partial-7", ".out.partial-"}
	for _, name := range append(slices.Clone(stale), kept...) {
		if err := os.MkdirAll(filepath.Join(parent, name, "video"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	st, err := openStaging(out)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	for _, name := range stale {
		if _, err := os.Stat(filepath.Join(parent, name)); err == nil {
			t.Errorf("stale %s not removed", name)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(filepath.Join(parent, name)); err != nil {
			t.Errorf("%s, not a staging directory of out, removed", name)
		}
	}
	if len(st.warnings) != len(stale) {
		t.Errorf("warnings %q, want one per stale directory", st.warnings)
	}

	_, err = openStaging(out)
	if !errors.Is(err, ErrOutputBusy) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second run while the first is alive: got %v, want ErrOutputBusy naming pid %d", err, os.Getpid())
	}
	if _, err := os.Stat(st.path); err != nil {
		t.Fatalf("the live run's staging was removed: %v", err)
	}
	if _, err := st.commit(); err != nil {
		t.Fatal(err)
	}
}
