package sqlstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
)

// raceKID is a KID an encryptor might choose, derived from name.
func raceKID(name string) drm.KeyID {
	h := sha256.Sum256([]byte("kid:" + name))
	var k drm.KeyID
	copy(k[:], h[:16])
	return k
}

func TestGetOrCreateKID(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		kid, err := drm.ParseKeyID("0f083e4e-b831-4a3d-917e-ce78076e54aa")
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.GetOrCreateKID(ctx, "movie", kid, keys.HD, 2)
		if err != nil {
			t.Fatal(err)
		}
		if a.KID != kid {
			t.Fatalf("asked for KID %s, got %s", kid, a.KID)
		}
		if err := a.Validate(); err != nil || len(a.IV) != 16 {
			t.Fatalf("bad key: %v, IV %d bytes", err, len(a.IV))
		}
		// The same (content, KID) again, also with another track type and
		// period: the existing key, unchanged.
		for _, c := range []struct {
			t keys.TrackType
			p uint32
		}{{keys.HD, 2}, {keys.SD, 0}} {
			b, err := s.GetOrCreateKID(ctx, "movie", kid, c.t, c.p)
			if err != nil {
				t.Fatal(err)
			}
			if b.KID != kid || !bytes.Equal(a.Key, b.Key) || !bytes.Equal(a.IV, b.IV) {
				t.Fatalf("%s/%d: second GetOrCreateKID gave another key", c.t, c.p)
			}
		}
		got, err := s.Get(ctx, kid)
		if err != nil {
			t.Fatal(err)
		}
		if got.ContentID != "movie" || got.TrackType != keys.HD || got.Period != 2 || got.State != keys.StateActive ||
			got.Origin != keys.OriginKID || !bytes.Equal(got.Key.Key, a.Key) || !bytes.Equal(got.Key.IV, a.IV) {
			t.Fatalf("Get = %v origin %s", got, got.Origin)
		}
		if byContent, err := s.GetByContent(ctx, "movie", kid); err != nil || !bytes.Equal(byContent.Key.Key, a.Key) {
			t.Fatalf("GetByContent: %v", err)
		}
		if _, err := s.GetByContent(ctx, "other", kid); !errors.Is(err, keys.ErrKeyNotFound) {
			t.Fatalf("GetByContent of another content: %v", err)
		}
		// Another KID of the same content and slot is another key.
		other, err := s.GetOrCreateKID(ctx, "movie", raceKID("x"), keys.HD, 2)
		if err != nil {
			t.Fatal(err)
		}
		if other.KID != raceKID("x") || bytes.Equal(other.Key, a.Key) {
			t.Fatal("second KID of one slot shares the first's key")
		}
		for _, c := range []struct {
			content string
			kid     drm.KeyID
			t       keys.TrackType
			want    error
		}{
			{"movie", drm.KeyID{}, keys.HD, keys.ErrInvalidRequest},
			{"", raceKID("y"), keys.HD, keys.ErrInvalidRequest},
			{"a\x01b", raceKID("y"), keys.HD, keys.ErrInvalidRequest},
			{strings.Repeat("x", keys.MaxContentIDLen+1), raceKID("y"), keys.HD, keys.ErrInvalidRequest},
			{"movie", raceKID("y"), 0, keys.ErrUnknownTrackType},
		} {
			if _, err := s.GetOrCreateKID(ctx, c.content, c.kid, c.t, 0); !errors.Is(err, c.want) {
				t.Errorf("%q %s %d: err %v, want %v", c.content, c.kid, c.t, err, c.want)
			}
		}
		if n := countRows(t, s, "movie"); n != 2 {
			t.Fatalf("%d rows, want 2", n)
		}
	})
}

func TestGetOrCreateKIDConflictAndRevoked(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		const owner = "owner-secret-title"
		kid := raceKID("conflict")
		a, err := s.GetOrCreateKID(ctx, owner, kid, keys.Audio, 0)
		if err != nil {
			t.Fatal(err)
		}
		slot, err := s.GetOrCreate(ctx, owner, keys.SD, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Another content asking for the owner's KIDs (KID-addressed or slot
		// key) is refused without learning anything about the owner.
		for _, k := range []drm.KeyID{kid, slot.KID} {
			got, err := s.GetOrCreateKID(ctx, "intruder", k, keys.Audio, 0)
			if !errors.Is(err, keys.ErrKIDConflict) {
				t.Fatalf("KID %s of another content: %v", k, err)
			}
			if len(got.Key) != 0 || got.KID != (drm.KeyID{}) {
				t.Fatal("conflict returned a key")
			}
			msg := err.Error()
			for _, leak := range []string{owner, hex.EncodeToString(a.Key), base64.StdEncoding.EncodeToString(a.Key), hex.EncodeToString(slot.Key)} {
				if strings.Contains(msg, leak) {
					t.Fatalf("conflict error leaks %q: %s", leak, msg)
				}
			}
		}
		if n := countRows(t, s, "intruder"); n != 0 {
			t.Fatalf("%d rows for the intruder", n)
		}
		// The owner asking with the slot key's KID gets the slot key.
		if k, err := s.GetOrCreateKID(ctx, owner, slot.KID, keys.SD, 0); err != nil || !bytes.Equal(k.Key, slot.Key) {
			t.Fatalf("owner by slot KID: %v", err)
		}

		// Revoked: refused, never a new key under the same KID.
		if err := s.Revoke(ctx, kid); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetOrCreateKID(ctx, owner, kid, keys.Audio, 0); !errors.Is(err, keys.ErrKeyRevoked) {
			t.Fatalf("revoked KID: %v", err)
		}
		// Another content still gets the conflict, not the owner's state.
		if _, err := s.GetOrCreateKID(ctx, "intruder", kid, keys.Audio, 0); !errors.Is(err, keys.ErrKIDConflict) {
			t.Fatalf("revoked KID of another content: %v", err)
		}
		got, err := s.Get(ctx, kid)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != keys.StateRevoked || !bytes.Equal(got.Key.Key, a.Key) {
			t.Fatal("revoked key changed")
		}
		if n := countRows(t, s, owner); n != 2 {
			t.Fatalf("%d rows, want 2", n)
		}
	})
}

func TestSlotAndKIDKeysCoexist(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		// A KID-addressed key first: it does not take the slot.
		k1, err := s.GetOrCreateKID(ctx, "m", raceKID("k1"), keys.HD, 0)
		if err != nil {
			t.Fatal(err)
		}
		slot, err := s.GetOrCreate(ctx, "m", keys.HD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if slot.KID == k1.KID || bytes.Equal(slot.Key, k1.Key) {
			t.Fatal("GetOrCreate returned the KID-addressed key")
		}
		// Then another KID-addressed key of the same slot: a third key.
		k2, err := s.GetOrCreateKID(ctx, "m", raceKID("k2"), keys.HD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if k2.KID == slot.KID || bytes.Equal(k2.Key, slot.Key) || bytes.Equal(k2.Key, k1.Key) {
			t.Fatal("keys shared")
		}
		if again, _ := s.GetOrCreate(ctx, "m", keys.HD, 0); again.KID != slot.KID {
			t.Fatal("slot key not stable next to KID-addressed keys")
		}
		list, err := s.List(ctx, "m")
		if err != nil {
			t.Fatal(err)
		}
		origins := map[drm.KeyID]keys.KeyOrigin{}
		for _, k := range list {
			origins[k.KID] = k.Origin
		}
		if len(list) != 3 || origins[slot.KID] != keys.OriginSlot || origins[k1.KID] != keys.OriginKID || origins[k2.KID] != keys.OriginKID {
			t.Fatalf("List: %v", origins)
		}
		// Revoking the slot key renews the slot only.
		if err := s.Revoke(ctx, slot.KID); err != nil {
			t.Fatal(err)
		}
		fresh, err := s.GetOrCreate(ctx, "m", keys.HD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fresh.KID == slot.KID || fresh.KID == k1.KID || fresh.KID == k2.KID {
			t.Fatal("revoked slot not renewed with a new key")
		}
		if k, err := s.GetOrCreateKID(ctx, "m", k1.KID, keys.HD, 0); err != nil || !bytes.Equal(k.Key, k1.Key) {
			t.Fatalf("KID-addressed key after slot revocation: %v", err)
		}
	})
}

// kidRaceGoroutines is how many goroutines of each child race.
const kidRaceGoroutines = 8

// kidRaceOrder is the order goroutine g visits the race KIDs: half of them
// forwards, half backwards, so every KID is contended from both sides.
func kidRaceOrder(g int) []int {
	o := make([]int, raceSlots)
	for i := range o {
		o[i] = i
		if g%2 == 1 {
			o[i] = raceSlots - 1 - i
		}
	}
	return o
}

// kidRace runs n goroutines, each getting or creating every race KID of
// content "kidrace", and returns one fingerprint per KID, checking that
// all goroutines agree.
func kidRace(ctx context.Context, s *Store, n int, start <-chan struct{}) ([]string, error) {
	got := make([][]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		got[g] = make([]string, raceSlots)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, i := range kidRaceOrder(g) {
				ck, err := s.GetOrCreateKID(ctx, "kidrace", raceKID(fmt.Sprint(i)), keys.HD, 0)
				if err != nil {
					errs[g] = err
					return
				}
				got[g][i] = fingerprint(ck)
			}
		}()
	}
	wg.Wait()
	for g := range n {
		if errs[g] != nil {
			return nil, fmt.Errorf("goroutine %d: %w", g, errs[g])
		}
		for i := range raceSlots {
			if got[g][i] != got[0][i] {
				return nil, fmt.Errorf("KID %d: goroutine %d got %s, goroutine 0 %s", i, g, got[g][i], got[0][i])
			}
		}
	}
	return got[0], nil
}

// childRaceKID is the body of a "racekid" child process.
func childRaceKID(ctx context.Context, s *Store, out *bufio.Writer) error {
	start := make(chan struct{})
	close(start)
	fps, err := kidRace(ctx, s, kidRaceGoroutines, start)
	if err != nil {
		return err
	}
	for i, fp := range fps {
		fmt.Fprintln(out, i, fp)
	}
	return nil
}

// TestGoroutinesAndProcessesRacingGetOneKIDKey: 32 goroutines here and two
// child processes of 8 goroutines each, released together, get or create
// the same KID-addressed keys: one row, one key per KID, seen by all.
func TestGoroutinesAndProcessesRacingGetOneKIDKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		f := open(t, be)
		goFile := filepath.Join(f.dir, "go")
		cmds, outs := startChildren(t, 2, "racekid", f, goFile)
		time.Sleep(100 * time.Millisecond) // let them open the store and reach the barrier
		start := make(chan struct{})
		var mine []string
		var localErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			mine, localErr = kidRace(context.Background(), f.store, 32, start)
		}()
		if err := os.WriteFile(goFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		close(start)
		<-done
		if localErr != nil {
			t.Fatal(localErr)
		}
		var want strings.Builder
		for i, fp := range mine {
			fmt.Fprintln(&want, i, fp)
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("child %d: %v\n%s", i, err, outs[i].String())
			}
			if got := outs[i].String(); got != want.String() {
				t.Fatalf("child %d got other keys than this process:\n%s\nvs\n%s", i, got, want.String())
			}
		}
		var n, kidRows int
		if err := f.store.db.QueryRow("SELECT count(*), sum(CASE WHEN origin = 'kid' THEN 1 ELSE 0 END) FROM content_keys WHERE content_id = 'kidrace'").Scan(&n, &kidRows); err != nil {
			t.Fatal(err)
		}
		if n != raceSlots || kidRows != raceSlots {
			t.Fatalf("%d rows (%d KID-addressed), want %d", n, kidRows, raceSlots)
		}
		for i := range raceSlots {
			if mine[i][:32] != raceKID(fmt.Sprint(i)).Hex() {
				t.Fatalf("KID %d: got key of KID %s", i, mine[i][:32])
			}
		}
	})
}

// TestMigrationKeepsSlotKeys upgrades a database holding a key under the
// schema of migration 00002 and checks the key is still its slot's.
func TestMigrationKeepsSlotKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		f := empty(t, be)
		var db *sql.DB
		var err error
		dialect := goose.DialectPostgres
		if f.file != "" {
			dialect = goose.DialectSQLite3
			db, err = sql.Open("sqlite", f.file+"?"+sqliteParams)
		} else {
			db, err = sql.Open("pgx", f.dsn)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sub, err := fs.Sub(migrations, "migrations")
		if err != nil {
			t.Fatal(err)
		}
		p, err := goose.NewProvider(dialect, db, sub, goose.WithDisableGlobalRegistry(true))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpTo(ctx, 2); err != nil {
			t.Fatal(err)
		}
		kek, err := local.Open(f.kek)
		if err != nil {
			t.Fatal(err)
		}
		kid := raceKID("old")
		key := bytes.Repeat([]byte{0x5a}, 16)
		wrapped, ref, err := kek.Wrap(ctx, kid, "legacy", key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO content_keys (kid, content_id, track_type, period, state, wrapped_key, key_ref, kms, iv, created_at)
			VALUES ($1, 'legacy', 'HD', 0, 'active', $2, $3, $4, NULL, 1)`, kid.Hex(), base64.StdEncoding.EncodeToString(wrapped), ref, kek.Name()); err != nil {
			t.Fatal(err)
		}
		db.Close()

		s := f.reopen(t, kek)
		got, err := s.GetOrCreate(ctx, "legacy", keys.HD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.KID != kid || !bytes.Equal(got.Key, key) {
			t.Fatal("the pre-migration key lost its slot")
		}
		rec, err := s.Get(ctx, kid)
		if err != nil || rec.Origin != keys.OriginSlot {
			t.Fatalf("origin after migration: %v %v", rec.Origin, err)
		}
		if k, err := s.GetOrCreateKID(ctx, "legacy", raceKID("new"), keys.HD, 0); err != nil || k.KID == kid {
			t.Fatalf("KID-addressed key next to the migrated one: %v", err)
		}
	})
}
