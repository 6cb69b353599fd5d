// Package kmstest holds the checks that the tests of every kms.Wrapper
// (local, pkcs11, awskms) share: random keys, concurrent round trips, the
// refusal table, and the scan of a database's files for clear keys. Only
// tests import it.
package kmstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
)

// RandomKey returns a random 16-byte content key and KID.
func RandomKey(t testing.TB) ([]byte, drm.KeyID) {
	t.Helper()
	key := make([]byte, 16)
	var kid drm.KeyID
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if _, err := rand.Read(kid[:]); err != nil {
		t.Fatal(err)
	}
	return key, kid
}

// ConcurrentRoundTrips wraps and unwraps each random keys from each of
// goroutines goroutines at once; every key must come back unchanged.
func ConcurrentRoundTrips(t *testing.T, w kms.Wrapper, goroutines, each int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key, kid := RandomKey(t)
				content := fmt.Sprintf("c-%d-%d", g, i)
				wrapped, ref, err := w.Wrap(ctx, kid, content, key)
				if err != nil {
					errs <- err
					return
				}
				got, err := w.Unwrap(ctx, kid, content, wrapped, ref)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, key) {
					errs <- fmt.Errorf("goroutine %d: round trip %d differs", g, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Refusal is an Unwrap that must fail with Want.
type Refusal struct {
	Name      string
	KID       drm.KeyID
	ContentID string
	Blob      []byte
	Ref       string
	Want      error
}

// Wrapped is a random key wrapped for content "movie-1", the start of every
// wrapper's refusal table.
type Wrapped struct {
	Key      []byte
	KID      drm.KeyID
	Blob     []byte
	Ref      string
	OtherKID drm.KeyID // a KID the blob was not wrapped for
	Tampered []byte    // Blob with its last byte flipped
}

// WrapOne wraps a random key for content "movie-1" with w.
func WrapOne(t *testing.T, w kms.Wrapper) Wrapped {
	t.Helper()
	var c Wrapped
	var err error
	c.Key, c.KID = RandomKey(t)
	if c.Blob, c.Ref, err = w.Wrap(context.Background(), c.KID, "movie-1", c.Key); err != nil {
		t.Fatal(err)
	}
	_, c.OtherKID = RandomKey(t)
	c.Tampered = bytes.Clone(c.Blob)
	c.Tampered[len(c.Tampered)-1] ^= 1
	return c
}

// Refusals are the refusals every wrapper shares: the blob under another
// KID or content ID (both are bound to the blob), and the tampered blob,
// each failing with kms.ErrUnwrap.
func (c Wrapped) Refusals() []Refusal {
	return []Refusal{
		{Name: "other KID", KID: c.OtherKID, ContentID: "movie-1", Blob: c.Blob, Ref: c.Ref, Want: kms.ErrUnwrap},
		{Name: "other content ID", KID: c.KID, ContentID: "movie-2", Blob: c.Blob, Ref: c.Ref, Want: kms.ErrUnwrap},
		{Name: "tampered", KID: c.KID, ContentID: "movie-1", Blob: c.Tampered, Ref: c.Ref, Want: kms.ErrUnwrap},
	}
}

// CheckUnwraps fails unless the good blob still unwraps to the key.
func (c Wrapped) CheckUnwraps(t *testing.T, w kms.Wrapper) {
	t.Helper()
	if got, err := w.Unwrap(context.Background(), c.KID, "movie-1", c.Blob, c.Ref); err != nil || !bytes.Equal(got, c.Key) {
		t.Fatalf("good blob: %v", err)
	}
}

// CheckRefusals runs each case as a subtest: Unwrap fails with its Want,
// returns no bytes, and its message holds key in no encoding (hex in any
// letter case).
func CheckRefusals(t *testing.T, w kms.Wrapper, key []byte, cases []Refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := w.Unwrap(context.Background(), c.KID, c.ContentID, c.Blob, c.Ref)
			if !errors.Is(err, c.Want) {
				t.Fatalf("got %v, want %v", err, c.Want)
			}
			if got != nil {
				t.Fatal("returned key bytes with an error")
			}
			msg := err.Error()
			leak := strings.Contains(strings.ToLower(msg), hex.EncodeToString(key))
			for _, enc := range Encodings(key) {
				leak = leak || strings.Contains(msg, string(enc))
			}
			if leak {
				t.Fatal("error message holds the key")
			}
		})
	}
}

// Encodings are the forms a leaked key could take: raw, hex (both cases)
// and base64 (standard and URL, padded or not).
func Encodings(key []byte) [][]byte {
	return [][]byte{
		key,
		[]byte(hex.EncodeToString(key)),
		[]byte(strings.ToUpper(hex.EncodeToString(key))),
		[]byte(base64.StdEncoding.EncodeToString(key)),
		[]byte(base64.RawStdEncoding.EncodeToString(key)),
		[]byte(base64.URLEncoding.EncodeToString(key)),
		[]byte(base64.RawURLEncoding.EncodeToString(key)),
	}
}

// SQLiteFiles returns the bytes of a SQLite database and its WAL,
// shared-memory and journal files.
func SQLiteFiles(path string) []byte {
	var blob []byte
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if b, err := os.ReadFile(path + suffix); err == nil {
			blob = append(blob, b...)
		}
	}
	return blob
}

// NoClearKeys fails unless blob holds every KID of all in hex (so the scan
// sees the rows) and none of their keys in any of Encodings.
func NoClearKeys(t testing.TB, blob []byte, all []keys.ContentKey) {
	t.Helper()
	for _, k := range all {
		if !bytes.Contains(blob, []byte(k.KID.Hex())) {
			t.Fatalf("KID %s not in the database files: the scan does not see the rows", k.KID)
		}
		for _, enc := range Encodings(k.Key) {
			if bytes.Contains(blob, enc) {
				t.Fatalf("clear key of KID %s found in the database files", k.KID)
			}
		}
	}
}
