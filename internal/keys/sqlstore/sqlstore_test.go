package sqlstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/kmstest"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// Environment of the child processes the multi-process tests start (this
// test binary, re-executed).
const (
	envChild = "DRMPIPE_SQLSTORE_CHILD"
	envDB    = "DRMPIPE_SQLSTORE_DB"
	envKEK   = "DRMPIPE_SQLSTORE_KEK"
	envGo    = "DRMPIPE_SQLSTORE_GO"
)

func TestGetOrCreateIsIdempotent(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		f := open(t, be)
		s := f.store
		a, err := s.GetOrCreate(ctx, "movie-1", keys.HD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Validate(); err != nil || len(a.IV) != 16 {
			t.Fatalf("bad key: %v, IV %d bytes", err, len(a.IV))
		}
		if a.KID[6]>>4 != 4 || a.KID[8]>>6 != 2 {
			t.Fatalf("KID %s is not a version 4 UUID", a.KID)
		}
		b, err := s.GetOrCreate(ctx, "movie-1", keys.HD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if a.KID != b.KID || !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.IV, b.IV) {
			t.Fatal("second get-or-create gave another key")
		}
		seen := map[drm.KeyID]bool{a.KID: true}
		for _, slot := range []struct {
			c string
			t keys.TrackType
			p uint32
		}{{"movie-1", keys.SD, 0}, {"movie-1", keys.HD, 1}, {"movie-2", keys.HD, 0}, {"movie-1", keys.All, 0}, {"movie-1", keys.Audio, 4294967295}} {
			k, err := s.GetOrCreate(ctx, slot.c, slot.t, slot.p)
			if err != nil {
				t.Fatal(err)
			}
			if seen[k.KID] {
				t.Fatalf("slot %+v reuses a KID", slot)
			}
			seen[k.KID] = true
		}
		got, err := s.Get(ctx, a.KID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ContentID != "movie-1" || got.TrackType != keys.HD || got.Period != 0 || got.State != keys.StateActive ||
			!bytes.Equal(got.Key.Key, a.Key) || !bytes.Equal(got.Key.IV, a.IV) || got.CreatedAt.IsZero() || !got.RotatedAt.IsZero() {
			t.Fatalf("Get = %v", got)
		}
		list, err := s.List(ctx, "movie-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 5 {
			t.Fatalf("List gave %d keys, want 5", len(list))
		}
		for i, k := range list {
			if k.Unwrapped() {
				t.Fatal("List returned a clear key")
			}
			if i > 0 && (list[i-1].TrackType > k.TrackType || list[i-1].TrackType == k.TrackType && list[i-1].Period > k.Period) {
				t.Fatal("List not ordered by track type, period")
			}
		}
		if _, err := s.Get(ctx, drm.KeyID{1}); !errors.Is(err, keys.ErrKeyNotFound) {
			t.Fatalf("Get unknown: %v", err)
		}
	})
}

func TestGetOrCreateRejectsBadRequests(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := open(t, be).store
		ctx := context.Background()
		for _, c := range []struct {
			content string
			t       keys.TrackType
			want    error
		}{
			{"", keys.HD, keys.ErrInvalidRequest},
			{strings.Repeat("x", keys.MaxContentIDLen+1), keys.HD, keys.ErrInvalidRequest},
			{"a\nb", keys.HD, keys.ErrInvalidRequest},
			{"a\xffb", keys.HD, keys.ErrInvalidRequest},
			{"movie", 0, keys.ErrUnknownTrackType},
			{"movie", 99, keys.ErrUnknownTrackType},
		} {
			if _, err := s.GetOrCreate(ctx, c.content, c.t, 0); !errors.Is(err, c.want) {
				t.Errorf("%q %d: err %v, want %v", c.content, c.t, err, c.want)
			}
		}
	})
}

func TestGoroutinesRacingGetOneKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := open(t, be).store
		ctx := context.Background()
		const n = 32
		got := make([]keys.ContentKey, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = s.GetOrCreate(ctx, "race", keys.UHD1, 3)
			}()
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if got[i].KID != got[0].KID || !bytes.Equal(got[i].Key, got[0].Key) {
				t.Fatalf("goroutine %d got KID %s, goroutine 0 got %s", i, got[i].KID, got[0].KID)
			}
		}
		if c := countRows(t, s, "race"); c != 1 {
			t.Fatalf("%d rows for the slot, want 1", c)
		}
	})
}

func countRows(t testing.TB, s *Store, contentID string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM content_keys WHERE content_id = $1", contentID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fingerprint names a key in child output without printing it.
func fingerprint(k keys.ContentKey) string {
	h := sha256.Sum256(append(append([]byte(nil), k.Key...), k.IV...))
	return k.KID.Hex() + ":" + hex.EncodeToString(h[:8])
}

const raceSlots = 40

// TestChildProcess is the body of the child processes; it does nothing
// unless started by a multi-process test.
func TestChildProcess(t *testing.T) {
	mode := os.Getenv(envChild)
	if mode == "" {
		t.Skip("only runs as a child of the multi-process tests")
	}
	ctx := context.Background()
	if g := os.Getenv(envGo); g != "" {
		for _, err := os.Stat(g); err != nil; _, err = os.Stat(g) {
			time.Sleep(200 * time.Microsecond)
		}
	}
	k, err := local.Open(os.Getenv(envKEK))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	s, err := Open(ctx, os.Getenv(envDB), k)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	switch mode {
	case "race":
		for i := range raceSlots {
			ck, err := s.GetOrCreate(ctx, "race-"+strconv.Itoa(i), keys.HD, 0)
			if err != nil {
				fmt.Fprintln(out, "ERR", err)
				out.Flush()
				os.Exit(2)
			}
			fmt.Fprintln(out, i, fingerprint(ck))
		}
		out.Flush()
	case "racekid":
		if err := childRaceKID(ctx, s, out); err != nil {
			fmt.Fprintln(out, "ERR", err)
			out.Flush()
			os.Exit(2)
		}
		out.Flush()
	case "crash":
		// Create keys until killed; report each only once it is committed.
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					content := fmt.Sprintf("crash-%d-%d-%d", os.Getpid(), g, i)
					var ck keys.ContentKey
					var err error
					if i%2 == 0 {
						ck, err = s.GetOrCreate(ctx, content, keys.Audio, 0)
					} else { // every other key KID-addressed
						ck, err = s.GetOrCreateKID(ctx, content, raceKID(content), keys.Audio, 0)
					}
					mu.Lock()
					if err != nil {
						fmt.Println("ERR", err)
						os.Exit(2)
					}
					fmt.Println("OK", ck.KID.Hex())
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	s.Close()
	os.Exit(0)
}

func child(t *testing.T, mode string, f fixture, goFile string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+mode, envDB+"="+f.dsn, envKEK+"="+f.kek, envGo+"="+goFile)
	return cmd
}

// startChildren starts n child processes in mode, each with stdout and
// stderr in its own buffer; they wait for goFile to appear.
func startChildren(t *testing.T, n int, mode string, f fixture, goFile string) ([]*exec.Cmd, []*bytes.Buffer) {
	t.Helper()
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	for i := range cmds {
		outs[i] = new(bytes.Buffer)
		cmds[i] = child(t, mode, f, goFile)
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	return cmds, outs
}

func TestProcessesRacingGetOneKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		f := empty(t, be)
		goFile := filepath.Join(f.dir, "go")
		// Neither the schema (on SQLite not even the file) nor the KEK
		// exists yet: the processes also race on creating both, and on
		// migrating (file lock on SQLite, advisory lock on PostgreSQL).
		cmds, outs := startChildren(t, 3, "race", f, goFile)
		time.Sleep(100 * time.Millisecond) // let them reach the barrier
		if err := os.WriteFile(goFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("child %d: %v\n%s", i, err, outs[i].String())
			}
		}
		want := ""
		for i := range outs {
			got := outs[i].String()
			if strings.Count(got, "\n") != raceSlots {
				t.Fatalf("child %d output:\n%s", i, got)
			}
			if i == 0 {
				want = got
			} else if got != want {
				t.Fatalf("child %d got other keys than child 0:\n%s\nvs\n%s", i, got, want)
			}
		}
		kek, err := local.Open(f.kek)
		if err != nil {
			t.Fatal(err)
		}
		g := fixture{store: f.reopen(t, kek)}
		var n int
		if err := g.store.db.QueryRow("SELECT count(*) FROM content_keys").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != raceSlots {
			t.Fatalf("%d rows, want %d", n, raceSlots)
		}
		// And this process, the fourth, reads the same keys.
		for i := range raceSlots {
			ck, err := g.store.GetOrCreate(context.Background(), "race-"+strconv.Itoa(i), keys.HD, 0)
			if err != nil {
				t.Fatal(err)
			}
			if line := fmt.Sprintf("%d %s\n", i, fingerprint(ck)); !strings.Contains(want, line) {
				t.Fatalf("slot %d: parent reads %s", i, line)
			}
		}
	})
}

func TestKillDuringCreationLeavesCompleteRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		f := open(t, be) // schema and KEK exist; the children only create keys
		var reported []string
		// Several rounds, each killing a child (SIGKILL) while its goroutines
		// are in the middle of creating keys.
		for round := range 3 {
			cmd := child(t, "crash", f, "")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 1024)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			n := 0
			for line := range lines {
				if !strings.HasPrefix(line, "OK ") {
					t.Fatalf("child: %s", line)
				}
				reported = append(reported, strings.TrimPrefix(line, "OK "))
				if n++; n == 40 {
					break
				}
			}
			time.Sleep(time.Duration(3+round*7) * time.Millisecond)
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			for line := range lines { // committed and reported before the kill
				if kid, ok := strings.CutPrefix(line, "OK "); ok {
					reported = append(reported, kid)
				}
			}
			_ = cmd.Wait()
		}
		s := f.store
		if f.file != "" {
			var integrity string
			if err := s.db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
				t.Fatalf("integrity_check: %q %v", integrity, err)
			}
		}
		rows, err := s.db.Query("SELECT kid FROM content_keys")
		if err != nil {
			t.Fatal(err)
		}
		var kids []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			kids = append(kids, k)
		}
		rows.Close()
		have := map[string]bool{}
		for _, k := range kids {
			have[k] = true
			kid, err := drm.ParseKeyID(k)
			if err != nil {
				t.Fatal(err)
			}
			sk, err := s.Get(context.Background(), kid)
			if err != nil {
				t.Fatalf("row %s after kill: %v", k, err)
			}
			if err := sk.Key.Validate(); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range reported {
			if !have[k] {
				t.Fatalf("key %s was reported created but is gone", k)
			}
		}
		t.Logf("%d complete rows after 3 kills, %d reported by the children", len(kids), len(reported))
	})
}

func TestRevokeThenGetOrCreateGivesNewKey(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		a, err := s.GetOrCreate(ctx, "m", keys.SD, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(ctx, a.KID); err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(ctx, a.KID); err != nil {
			t.Fatalf("second revoke: %v", err)
		}
		if err := s.Revoke(ctx, drm.KeyID{3}); !errors.Is(err, keys.ErrKeyNotFound) {
			t.Fatalf("revoke unknown: %v", err)
		}
		got, err := s.Get(ctx, a.KID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != keys.StateRevoked || got.RevokedAt.IsZero() {
			t.Fatalf("after revoke: %v", got)
		}
		b, err := s.GetOrCreate(ctx, "m", keys.SD, 2)
		if err != nil {
			t.Fatal(err)
		}
		if b.KID == a.KID || bytes.Equal(a.Key, b.Key) {
			t.Fatal("get-or-create returned the revoked key")
		}
		c, _ := s.GetOrCreate(ctx, "m", keys.SD, 2)
		if c.KID != b.KID {
			t.Fatal("new key not stable")
		}
		list, _ := s.List(ctx, "m")
		if len(list) != 2 {
			t.Fatalf("List: %d rows", len(list))
		}
	})
}

func keyRefs(t testing.TB, s *Store) map[string]int {
	t.Helper()
	rows, err := s.db.Query("SELECT key_ref, count(*) FROM content_keys GROUP BY key_ref")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var r string
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			t.Fatal(err)
		}
		m[r] = n
	}
	return m
}

func TestRewrapAfterKEKRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		f := open(t, be)
		s := f.store
		const n = 2*RewrapBatch + 17
		orig := make([]keys.ContentKey, n)
		for i := range orig {
			var err error
			if orig[i], err = s.GetOrCreate(ctx, fmt.Sprintf("c%d", i%7), keys.TrackType(1+i%6), uint32(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Revoke(ctx, orig[0].KID); err != nil {
			t.Fatal(err)
		}
		old := f.kms.KeyRefs()[0]
		cur, err := f.kms.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		// Before the re-wrap every key still reads (old KEK kept), and new keys
		// go under the new KEK.
		if _, err := s.Get(ctx, orig[5].KID); err != nil {
			t.Fatal(err)
		}
		fresh, err := s.GetOrCreate(ctx, "fresh", keys.HD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if m := keyRefs(t, s); m[old] != n || m[cur] != 1 {
			t.Fatalf("refs before rewrap: %v", m)
		}
		// A reader in a "second process" (own KMS view of the file) during the re-wrap.
		other, err := local.Open(f.kek)
		if err != nil {
			t.Fatal(err)
		}
		s2 := f.reopen(t, other)
		stop := make(chan struct{})
		readErr := make(chan error, 1)
		go func() {
			defer close(readErr)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := orig[i%n]
				got, err := s2.Get(ctx, k.KID)
				if err != nil || !bytes.Equal(got.Key.Key, k.Key) {
					readErr <- fmt.Errorf("read during rewrap of %s: %w", k.KID, err)
					return
				}
			}
		}()
		done, err := s.Rewrap(ctx)
		close(stop)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-readErr; err != nil {
			t.Fatal(err)
		}
		if done != n {
			t.Fatalf("rewrapped %d keys, want %d", done, n)
		}
		if m := keyRefs(t, s); len(m) != 1 || m[cur] != n+1 {
			t.Fatalf("refs after rewrap: %v", m)
		}
		for _, k := range append(orig, fresh) {
			got, err := s2.Get(ctx, k.KID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Key.Key, k.Key) || !bytes.Equal(got.Key.IV, k.IV) {
				t.Fatalf("KID %s changed in rewrap", k.KID)
			}
			if k.KID != fresh.KID && got.RotatedAt.IsZero() {
				t.Fatalf("KID %s has no rotated_at", k.KID)
			}
		}
		if again, err := s.Rewrap(ctx); err != nil || again != 0 {
			t.Fatalf("second rewrap: %d %v", again, err)
		}
	})
}

func TestWrongKEKIsAnErrorNeverAFallback(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		f := open(t, be)
		a, err := f.store.GetOrCreate(ctx, "m", keys.HD, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.store.GetOrCreate(ctx, "m", keys.SD, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.store.Close()

		wrong, err := local.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s := f.reopen(t, wrong)
		if _, err := s.Get(ctx, a.KID); !errors.Is(err, kms.ErrUnknownKeyRef) {
			t.Fatalf("Get with wrong KEK: %v", err)
		}
		if _, err := s.GetOrCreate(ctx, "m", keys.HD, 0); !errors.Is(err, kms.ErrUnknownKeyRef) {
			t.Fatalf("GetOrCreate with wrong KEK: %v", err)
		}
		if c := countRows(t, s, "m"); c != 2 {
			t.Fatalf("%d rows: a new key replaced the unreadable one", c)
		}

		// Right KEK, but wrapped keys swapped between rows: the KID binding fails.
		right := f.reopen(t, f.kms)
		if _, err := right.db.Exec(`UPDATE content_keys SET wrapped_key = (SELECT wrapped_key FROM content_keys WHERE kid = $1) WHERE kid = $2`, b.KID.Hex(), a.KID.Hex()); err != nil {
			t.Fatal(err)
		}
		if _, err := right.Get(ctx, a.KID); !errors.Is(err, kms.ErrUnwrap) {
			t.Fatalf("swapped wrapped key: %v", err)
		}
		if _, err := right.GetOrCreate(ctx, "m", keys.HD, 0); !errors.Is(err, kms.ErrUnwrap) {
			t.Fatalf("GetOrCreate on swapped wrapped key: %v", err)
		}
	})
}

// TestNoClearKeyInDatabaseFiles greps the database, WAL and shared-memory
// files for every generated key in every usual encoding.
func TestNoClearKeyInDatabaseFiles(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		f := open(t, be)
		var all []keys.ContentKey
		for i := range 120 {
			content := fmt.Sprintf("grep-%d", i/6)
			var k keys.ContentKey
			var err error
			if i%3 == 2 { // a third of the keys KID-addressed
				k, err = f.store.GetOrCreateKID(ctx, content, raceKID(fmt.Sprint(i)), keys.TrackType(1+i%6), 0)
			} else {
				k, err = f.store.GetOrCreate(ctx, content, keys.TrackType(1+i%6), 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, k)
		}
		if _, err := f.kms.Rotate(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Rewrap(ctx); err != nil {
			t.Fatal(err)
		}
		check := func(stage string) {
			blob := f.dbBytes(t)
			// The grep can see row content: every KID is there in hex.
			for _, k := range all {
				if !bytes.Contains(blob, []byte(k.KID.Hex())) {
					t.Fatalf("%s: KID %s not found: the grep does not see the rows", stage, k.KID)
				}
			}
			var needles [][]byte
			var owner []drm.KeyID
			for _, k := range all {
				for _, enc := range kmstest.Encodings(k.Key) {
					needles, owner = append(needles, enc), append(owner, k.KID)
				}
			}
			if i, found := containsAny(blob, needles); found {
				t.Fatalf("%s: clear key of KID %s found in the database files", stage, owner[i])
			}
			// The search itself finds what is there.
			if _, found := containsAny(blob, [][]byte{[]byte(all[7].KID.Hex())}); !found {
				t.Fatalf("%s: containsAny misses a KID", stage)
			}
		}
		check("open (WAL)")
		if err := f.store.Close(); err != nil {
			t.Fatal(err)
		}
		check("closed")
	})
}

func TestDatabaseFileMode(t *testing.T) {
	f := open(t, backends[0])
	if _, err := f.store.GetOrCreate(context.Background(), "m", keys.HD, 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f.file, f.file + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Fatalf("%s mode %04o, want 0600", filepath.Base(p), perm)
		}
	}
}

func TestOpenDSN(t *testing.T) {
	ctx := context.Background()
	k, err := local.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dsn  string
		want error
	}{
		{fmt.Sprintf("postgres://drm:hunter2@127.0.0.1:%d/keys?sslmode=disable", testtools.FreePort(t)), nil}, // nothing listens
		{"postgresql://drm:hunter2@127.0.0.1:99999/keys", ErrDSN},
		{"mysql://drm:hunter2@x/y", ErrDSN},
		{"sqlite:", ErrDSN},
		{"sqlite:a.db?mode=memory", ErrDSN},
		{"file:a.db", ErrDSN},
	} {
		_, err := Open(ctx, c.dsn, k)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.dsn, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: error shows the password", c.dsn)
		}
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "k.db"), nil); !errors.Is(err, ErrNoKMS) {
		t.Fatalf("nil KMS: %v", err)
	}
	s, err := Open(ctx, filepath.Join(t.TempDir(), "nested", "k.db"), k)
	if err != nil {
		t.Fatalf("bare path: %v", err)
	}
	s.Close()
}

func TestSourceFor(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		src := keys.SourceFor(s, "asset")
		hd, err := src.Key(ctx, keys.HD)
		if err != nil {
			t.Fatal(err)
		}
		audio, _ := src.Key(ctx, keys.Audio)
		if hd.KID == audio.KID {
			t.Fatal("per-track-type source gave one key")
		}
		direct, _ := s.GetOrCreate(ctx, "asset", keys.HD, 0)
		if direct.KID != hd.KID {
			t.Fatal("source and store disagree")
		}
		one := keys.SourceFor(s, "asset", keys.OneKeyPerAsset(), keys.WithPeriod(7))
		x, _ := one.Key(ctx, keys.HD)
		y, _ := one.Key(ctx, keys.Audio)
		all, _ := s.GetOrCreate(ctx, "asset", keys.All, 7)
		if x.KID != y.KID || x.KID != all.KID {
			t.Fatal("one-key source gave several keys")
		}
		if _, err := keys.SourceFor(s, "").Key(ctx, keys.HD); !errors.Is(err, keys.ErrNoKey) || !errors.Is(err, keys.ErrInvalidRequest) {
			t.Fatalf("empty content ID: %v", err)
		}
	})
}
