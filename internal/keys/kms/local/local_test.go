package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/kmstest"
)

func randKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 16)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestOpenCreatesKEKFile0600(t *testing.T) {
	dir := t.TempDir()
	k, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("KEK file mode %04o, want 0600", perm)
	}
	if n := len(k.KeyRefs()); n != 1 {
		t.Fatalf("%d KEKs, want 1", n)
	}
	// Re-opening reads the same KEK.
	k2, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k.KeyRefs()[0] != k2.KeyRefs()[0] {
		t.Fatal("re-open gave another KEK")
	}
}

func TestOpenRefusesLooseMode(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o666} {
		path := filepath.Join(t.TempDir(), DefaultFileName)
		if _, err := Open(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		if !errors.Is(err, ErrInsecureKEKFile) {
			t.Fatalf("mode %04o: err %v, want ErrInsecureKEKFile", mode, err)
		}
		if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprintf("%04o", mode)) {
			t.Fatalf("mode %04o: error %q does not name the file and its mode", mode, msg)
		}
	}
}

func TestOpenRefusesNonRegularAndGarbage(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); !errors.Is(err, ErrInsecureKEKFile) {
		t.Fatalf("directory as KEK file: %v", err)
	}
	p := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(p, []byte(`{"format":"drmpipe-kek/1","keks":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); !errors.Is(err, ErrKEKFile) {
		t.Fatalf("empty KEK list: %v", err)
	}
	secret := "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
	if err := os.WriteFile(p, []byte(`{"format":"drmpipe-kek/1","keks":[{"ref":"00","key":"`+secret+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(p)
	if !errors.Is(err, ErrKEKFile) {
		t.Fatalf("ref not matching key: %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatal("error quotes KEK material")
	}
	if err := os.WriteFile(p, []byte(`{"format":"drmpipe-kek/1","keks":[{"key":"`+secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); !errors.Is(err, ErrKEKFile) || strings.Contains(err.Error(), secret) {
		t.Fatalf("truncated file: %v", err)
	}
}

func TestWrapUnwrapBindsKIDAndContent(t *testing.T) {
	ctx := context.Background()
	k, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kid := drm.KeyID{1, 2, 3}
	key := randKey(t)
	w, ref, err := k.Wrap(ctx, kid, "movie", key)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != nonceSize+16+tagSize {
		t.Fatalf("wrapped length %d", len(w))
	}
	if bytes.Contains(w, key) {
		t.Fatal("wrapped blob contains the clear key")
	}
	w2, _, _ := k.Wrap(ctx, kid, "movie", key)
	if bytes.Equal(w, w2) {
		t.Fatal("two wraps of one key are equal: nonce not random")
	}
	got, err := k.Unwrap(ctx, kid, "movie", w, ref)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("round trip: %v", err)
	}
	tampered := append([]byte(nil), w...)
	tampered[len(tampered)-1] ^= 1
	kmstest.CheckRefusals(t, k, key, []kmstest.Refusal{
		{Name: "other KID", KID: drm.KeyID{9}, ContentID: "movie", Blob: w, Ref: ref, Want: kms.ErrUnwrap},
		{Name: "other content", KID: kid, ContentID: "movie2", Blob: w, Ref: ref, Want: kms.ErrUnwrap},
		{Name: "tampered", KID: kid, ContentID: "movie", Blob: tampered, Ref: ref, Want: kms.ErrUnwrap},
		{Name: "short", KID: kid, ContentID: "movie", Blob: w[:20], Ref: ref, Want: kms.ErrBadInput},
		{Name: "unknown ref", KID: kid, ContentID: "movie", Blob: w, Ref: "0011223344556677", Want: kms.ErrUnknownKeyRef},
	})
}

func TestWrongKEKNeverUnwraps(t *testing.T) {
	ctx := context.Background()
	a, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kid := drm.KeyID{7}
	w, ref, err := a.Wrap(ctx, kid, "c", randKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Unwrap(ctx, kid, "c", w, ref); !errors.Is(err, kms.ErrUnknownKeyRef) || !strings.Contains(err.Error(), b.Path()) {
		t.Fatalf("other KEK file: %v", err)
	}
	// Even told to use its own KEK, b cannot authenticate a's wrap.
	if _, err := b.Unwrap(ctx, kid, "c", w, b.KeyRefs()[0]); !errors.Is(err, kms.ErrUnwrap) {
		t.Fatalf("other KEK: %v", err)
	}
}

func TestRotateKeepsOldKEKs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DefaultFileName)
	k, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(path) // another process's view, opened before the rotation
	if err != nil {
		t.Fatal(err)
	}
	kid, key := drm.KeyID{5}, randKey(t)
	w1, ref1, _ := k.Wrap(ctx, kid, "c", key)
	ref2, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if ref2 == ref1 {
		t.Fatal("rotation kept the KEK ref")
	}
	if cur, _ := k.CurrentKeyRef(ctx); cur != ref2 {
		t.Fatalf("current %s, want %s", cur, ref2)
	}
	w2, gotRef, _ := k.Wrap(ctx, kid, "c", key)
	if gotRef != ref2 {
		t.Fatalf("wrap after rotation used %s", gotRef)
	}
	for _, c := range []struct {
		w   []byte
		ref string
	}{{w1, ref1}, {w2, ref2}} {
		for _, kk := range []*KMS{k, other} {
			got, err := kk.Unwrap(ctx, kid, "c", c.w, c.ref)
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("unwrap under %s: %v", c.ref, err)
			}
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after rotation %04o", fi.Mode().Perm())
	}
	// A rotation by the stale view keeps the other's KEK (read under lock).
	if _, err := other.Rotate(); err != nil {
		t.Fatal(err)
	}
	if n := len(other.KeyRefs()); n != 3 {
		t.Fatalf("%d KEKs after two rotations, want 3", n)
	}
}

func TestConcurrentFirstOpenAgrees(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", DefaultFileName)
	var wg sync.WaitGroup
	refs := make([]string, 16)
	errs := make([]error, 16)
	for i := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := Open(path)
			if err != nil {
				errs[i] = err
				return
			}
			refs[i] = k.KeyRefs()[0]
		}()
	}
	wg.Wait()
	for i := range refs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if refs[i] != refs[0] {
			t.Fatalf("opener %d got KEK %s, opener 0 got %s", i, refs[i], refs[0])
		}
	}
}

func FuzzUnwrap(f *testing.F) {
	k, err := OpenDir(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	ref := k.KeyRefs()[0]
	w, _, _ := k.Wrap(context.Background(), drm.KeyID{1}, "c", make([]byte, 16))
	f.Add(w, "c")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, blob []byte, content string) {
		if bytes.Equal(blob, w) && content == "c" {
			return
		}
		if _, err := k.Unwrap(context.Background(), drm.KeyID{1}, content, blob, ref); err == nil {
			t.Fatal("forged blob unwrapped")
		}
	})
}
