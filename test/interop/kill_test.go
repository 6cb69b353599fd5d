//go:build unix

package interop

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// renditionCopies is how many hard links of the sample one run packages:
// 16 renditions make an output of about 32 MB that takes long enough (some
// 100 to 300 ms here) to be killed at several points while it is written.
const renditionCopies = 16

// TestKilledRunKeepsPublishedOutput SIGKILLs real package runs that replace
// a published output at several points after their staging directory
// appears. After every kill the published output must be the complete
// previous one, and the next run must remove the staging trees the killed
// runs left and publish.
func TestKilledRunKeepsPublishedOutput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	args := append([]string{"package", "-q", "-o", out, "--key", singleKey.flag()}, renditionInputs(t, dir)...)

	mustRun(t, args...)
	want := treeSizes(t, out)
	checkPlaylists(t, out)
	// A replacing run that is not killed measures how long runs write.
	_, window := killAfterStaging(t, dir, out, args, -1)

	landed, leftBytes := 0, int64(0)
	var left []string // staging the last kill left, which the next run must remove
	for _, frac := range []float64{0, 0.3, 0.6, 0.9} {
		delay := time.Duration(frac * float64(window))
		killed, _ := killAfterStaging(t, dir, out, args, delay)
		if diff := diffTrees(want, treeSizes(t, out)); diff != "" {
			t.Fatalf("kill %v after staging appeared: published output changed:\n%s", delay, diff)
		}
		checkPlaylists(t, out)
		now := stagingDirs(t, dir, out)
		for _, name := range left {
			if slices.Contains(now, name) {
				t.Errorf("staging %s of an earlier killed run is still there after the next run", name)
			}
		}
		n := stagingBytes(t, dir, out)
		t.Logf("kill %v after staging appeared (run ends %v after): killed=%v, left %v holding %d byte(s)", delay, window, killed, now, n)
		if killed {
			landed++
			leftBytes += n
		}
		left = now
	}
	if landed == 0 || leftBytes == 0 {
		t.Fatalf("%d kill(s) landed while the run was writing, leaving %d bytes: the input is too small for this machine", landed, leftBytes)
	}

	mustRun(t, args...)
	if extra := hiddenSiblings(t, dir, out); len(extra) > 0 {
		t.Errorf("the run after the kills left %v beside the output", extra)
	}
	if diff := diffTrees(want, treeSizes(t, out)); diff != "" {
		t.Errorf("republished output differs:\n%s", diff)
	}
	mustRun(t, "verify", "--key", singleKey.flag(), out)
}

// renditionInputs hard-links the sample renditionCopies times into dir (a
// copy where links are not possible), so that a run packages that many
// renditions.
func renditionInputs(t *testing.T, dir string) []string {
	t.Helper()
	sample := testtools.SampleClip(t)
	var inputs []string
	for i := range renditionCopies {
		p := filepath.Join(dir, fmt.Sprintf("in_%02d.mp4", i))
		if err := os.Link(sample, p); err != nil {
			b, err := os.ReadFile(sample)
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, b)
		}
		inputs = append(inputs, p)
	}
	return inputs
}

// stagedRun is a drmpipe process whose staging directory has appeared.
type stagedRun struct {
	cmd      *exec.Cmd
	exited   chan error
	stderr   bytes.Buffer
	appeared time.Time
}

// startUntilStaging starts drmpipe with args and returns once a new staging
// directory has appeared beside out.
func startUntilStaging(t *testing.T, dir, out string, args []string) *stagedRun {
	t.Helper()
	before := stagingDirs(t, dir, out)
	r := &stagedRun{cmd: exec.Command(drmpipeBin, args...), exited: make(chan error, 1)}
	r.cmd.Stderr = &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for isSubset(stagingDirs(t, dir, out), before) {
		select {
		case err := <-r.exited:
			t.Fatalf("drmpipe exited (%v) before its staging directory appeared:\n%s", err, r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			r.cmd.Process.Kill()
			t.Fatal("no staging directory appeared within 10 s")
		}
		time.Sleep(200 * time.Microsecond)
	}
	r.appeared = time.Now()
	return r
}

// killAfterStaging starts drmpipe with args, waits until a staging
// directory appears beside the output, SIGKILLs it delay later (never if
// delay is negative) and reports whether the kill ended the run (false: it
// had already exited 0) and how long the run lived after its staging
// directory appeared.
func killAfterStaging(t *testing.T, dir, out string, args []string, delay time.Duration) (killed bool, lived time.Duration) {
	t.Helper()
	r := startUntilStaging(t, dir, out, args)
	if delay >= 0 {
		time.Sleep(delay)
		_ = r.cmd.Process.Kill() // SIGKILL
	}
	err := <-r.exited
	lived = time.Since(r.appeared)
	if err == nil {
		return false, lived
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || delay < 0 || ee.ExitCode() != -1 {
		t.Fatalf("drmpipe failed on its own: %v\n%s", err, r.stderr.String())
	}
	return true, lived
}

// TestConcurrentRunRefused: while one run writes an output (held stopped
// with SIGSTOP, so it cannot finish first), a second run on the same output
// fails at once, naming the first, and neither run's files suffer.
func TestConcurrentRunRefused(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	args := append([]string{"package", "-q", "-o", out, "--key", singleKey.flag()}, renditionInputs(t, dir)[:2]...)
	mustRun(t, args...)
	want := treeSizes(t, out)

	first := startUntilStaging(t, dir, out, args)
	if err := first.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	staging := stagingDirs(t, dir, out)
	second := drmpipe(t, args...)
	if err := first.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if second.code == 0 || !strings.Contains(second.stderr, "another drmpipe run is writing") ||
		!strings.Contains(second.stderr, "pid "+strconv.Itoa(first.cmd.Process.Pid)) {
		t.Errorf("second run while the first writes: want a failure naming pid %d:\n%s", first.cmd.Process.Pid, second)
	}
	if !isSubset(staging, stagingDirs(t, dir, out)) {
		t.Errorf("the second run removed the first's staging %v", staging)
	}
	if err := <-first.exited; err != nil {
		t.Fatalf("first run: %v\n%s", err, first.stderr.String())
	}
	if diff := diffTrees(want, treeSizes(t, out)); diff != "" {
		t.Errorf("output after both runs differs:\n%s", diff)
	}
	checkPlaylists(t, out)
}

// stagingDirs lists the hidden staging directories beside out.
func stagingDirs(t *testing.T, dir, out string) []string {
	t.Helper()
	return entriesWithPrefix(t, dir, "."+filepath.Base(out)+".partial-")
}

// hiddenSiblings lists the entries beside out that drmpipe made (hidden,
// named after out: staging directories, lock file).
func hiddenSiblings(t *testing.T, dir, out string) []string {
	t.Helper()
	return entriesWithPrefix(t, dir, "."+filepath.Base(out))
}

// entriesWithPrefix lists the names in dir that begin with prefix.
func entriesWithPrefix(t *testing.T, dir, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			found = append(found, e.Name())
		}
	}
	return found
}

// stagingBytes sums the sizes of the files in the staging directories
// beside out.
func stagingBytes(t *testing.T, dir, out string) int64 {
	t.Helper()
	var n int64
	for _, s := range stagingDirs(t, dir, out) {
		for _, size := range treeSizes(t, filepath.Join(dir, s)) {
			n += size
		}
	}
	return n
}

// treeSizes maps each file below root (slash-separated relative path) to
// its size.
func treeSizes(t *testing.T, root string) map[string]int64 {
	t.Helper()
	sizes := map[string]int64{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		sizes[filepath.ToSlash(rel)] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", root, err)
	}
	return sizes
}

// diffTrees describes how got differs from want, or returns "".
func diffTrees(want, got map[string]int64) string {
	var b strings.Builder
	for p, n := range want {
		if m, ok := got[p]; !ok {
			fmt.Fprintf(&b, "  missing %s\n", p)
		} else if m != n {
			fmt.Fprintf(&b, "  %s: %d bytes, want %d\n", p, m, n)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			fmt.Fprintf(&b, "  unexpected %s\n", p)
		}
	}
	return b.String()
}

var playlistURI = regexp.MustCompile(`URI="([^"]+)"`)

// checkPlaylists follows master.m3u8 to every media playlist and from them
// to every init and media segment, and fails unless each exists and is not
// empty.
func checkPlaylists(t *testing.T, out string) {
	t.Helper()
	if fi, err := os.Stat(filepath.Join(out, "manifest.mpd")); err != nil || fi.Size() == 0 {
		t.Fatalf("manifest.mpd missing or empty: %v", err)
	}
	segments := 0
	var follow func(playlist string)
	follow = func(playlist string) {
		b, err := os.ReadFile(playlist)
		if err != nil {
			t.Fatalf("read playlist: %v", err)
		}
		var refs []string
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			switch {
			case line == "":
			case strings.HasPrefix(line, "#EXT-X-MEDIA:") || strings.HasPrefix(line, "#EXT-X-MAP:"):
				if m := playlistURI.FindStringSubmatch(line); m != nil {
					refs = append(refs, m[1])
				}
			case !strings.HasPrefix(line, "#"):
				refs = append(refs, line)
			}
		}
		for _, ref := range refs {
			p := filepath.Join(filepath.Dir(playlist), filepath.FromSlash(ref))
			fi, err := os.Stat(p)
			if err != nil || fi.Size() == 0 {
				t.Fatalf("%s names %s, which is missing or empty (%v)", playlist, ref, err)
			}
			if strings.HasSuffix(ref, ".m3u8") {
				follow(p)
			} else {
				segments++
			}
		}
	}
	follow(filepath.Join(out, "master.m3u8"))
	if segments == 0 {
		t.Fatalf("%s names no segments", out)
	}
}

// isSubset reports whether every name in names is also in of.
func isSubset(names, of []string) bool {
	for _, n := range names {
		if !slices.Contains(of, n) {
			return false
		}
	}
	return true
}
