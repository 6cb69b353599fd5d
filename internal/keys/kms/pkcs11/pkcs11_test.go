package pkcs11

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/kmstest"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// token starts a fresh SoftHSM2 token and returns a config for it.
func token(t *testing.T) Config {
	t.Helper()
	module, label, pin := testtools.StartSoftHSM(t)
	return Config{ModulePath: module, TokenLabel: label, PIN: pin, CreateIfMissing: true, Timeout: 2 * time.Second}
}

func open(t *testing.T, cfg Config) *Wrapper {
	t.Helper()
	w, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// session opens a raw logged-in session on the wrapper's token, to look at
// the token the way an attacker holding the PIN would.
func session(t *testing.T, w *Wrapper) p11.SessionHandle {
	t.Helper()
	sh, err := w.pool.open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.mod.ctx.CloseSession(sh) })
	return sh
}

func TestWrapUnwrapRoundTrip(t *testing.T) {
	ctx := context.Background()
	cfg := token(t)
	w := open(t, cfg)
	c := kmstest.WrapOne(t, w)
	key, kid, wrapped, ref := c.Key, c.KID, c.Blob, c.Ref
	if ref != DefaultKeyLabel+"/1" {
		t.Errorf("key ref %q, want %q", ref, DefaultKeyLabel+"/1")
	}
	if len(wrapped) != 16+32+8 {
		t.Errorf("wrapped key has %d bytes, want 56", len(wrapped))
	}
	if bytes.Contains(wrapped, key) {
		t.Fatal("wrapped blob contains the clear key")
	}
	got, err := w.Unwrap(ctx, kid, "movie-1", wrapped, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, key) {
		t.Fatal("unwrapped key differs")
	}
	// Another key wraps differently.
	key2, _ := kmstest.RandomKey(t)
	wrapped2, _, err := w.Wrap(ctx, kid, "movie-1", key2)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(wrapped, wrapped2) {
		t.Fatal("two keys wrap to the same blob")
	}

	// The KEK is a token object: a new Wrapper (after the last one closed and
	// the library was finalized) finds the same KEK and unwraps.
	w.Close()
	cfg.CreateIfMissing = false
	w2 := open(t, cfg)
	got, err = w2.Unwrap(ctx, kid, "movie-1", wrapped, ref)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap with a reopened wrapper: %v", err)
	}
	// Operations after Close fail; Close twice is fine.
	if _, _, err := w.Wrap(ctx, kid, "movie-1", key); !errors.Is(err, ErrClosed) || !errors.Is(err, kms.ErrUnavailable) {
		t.Fatalf("wrap after Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMovedOrDamagedBlobFails(t *testing.T) {
	w := open(t, token(t))
	c := kmstest.WrapOne(t, w)
	kid, wrapped, ref := c.KID, c.Blob, c.Ref
	kmstest.CheckRefusals(t, w, c.Key, append(c.Refusals(), []kmstest.Refusal{
		{Name: "content ID prefix", KID: kid, ContentID: "movie-", Blob: wrapped, Ref: ref, Want: kms.ErrUnwrap},
		{Name: "truncated", KID: kid, ContentID: "movie-1", Blob: wrapped[:len(wrapped)-8], Ref: ref, Want: kms.ErrBadInput},
		{Name: "empty", KID: kid, ContentID: "movie-1", Blob: nil, Ref: ref, Want: kms.ErrBadInput},
		{Name: "unknown version", KID: kid, ContentID: "movie-1", Blob: wrapped, Ref: DefaultKeyLabel + "/7", Want: kms.ErrUnknownKeyRef},
		{Name: "unknown label", KID: kid, ContentID: "movie-1", Blob: wrapped, Ref: "other-kek/1", Want: kms.ErrUnknownKeyRef},
		{Name: "malformed ref", KID: kid, ContentID: "movie-1", Blob: wrapped, Ref: "nonsense", Want: kms.ErrUnknownKeyRef},
	}...))
	// The good blob still unwraps after all that.
	c.CheckUnwraps(t, w)
}

func TestBadKeySizes(t *testing.T) {
	w := open(t, token(t))
	_, kid := kmstest.RandomKey(t)
	for _, n := range []int{0, 8, 15, 17, 72} {
		if _, _, err := w.Wrap(context.Background(), kid, "c", make([]byte, n)); !errors.Is(err, kms.ErrBadInput) {
			t.Errorf("%d-byte key: %v", n, err)
		}
	}
	for _, n := range []int{24, 32, 64} {
		key := make([]byte, n)
		rand.Read(key)
		wrapped, ref, err := w.Wrap(context.Background(), kid, "c", key)
		if err != nil {
			t.Fatalf("%d-byte key: %v", n, err)
		}
		if got, err := w.Unwrap(context.Background(), kid, "c", wrapped, ref); err != nil || !bytes.Equal(got, key) {
			t.Fatalf("%d-byte key round trip: %v", n, err)
		}
	}
}

// TestKEKIsNonExtractable looks at the KEK the wrapper created with a raw
// session (PIN in hand): its value cannot be read and it cannot be wrapped
// out of the token.
func TestKEKIsNonExtractable(t *testing.T) {
	w := open(t, token(t))
	sh := session(t, w)
	versions, err := w.findKEKs(sh, DefaultKeyLabel)
	if err != nil || len(versions[1]) != 1 {
		t.Fatalf("find KEK: %v %v", versions, err)
	}
	kek := versions[1][0]
	c := w.mod.ctx
	if _, err := c.GetAttributeValue(sh, kek, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)}); !isCode(err, p11.CKR_ATTRIBUTE_SENSITIVE) {
		t.Fatalf("reading CKA_VALUE of the KEK: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}
	attrs, err := c.GetAttributeValue(sh, kek, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
		p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_TOKEN, nil),
		p11.NewAttribute(p11.CKA_NEVER_EXTRACTABLE, nil),
		p11.NewAttribute(p11.CKA_ALWAYS_SENSITIVE, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, true, true, true, true}
	for i, a := range attrs {
		if got := len(a.Value) == 1 && a.Value[0] != 0; got != want[i] {
			t.Errorf("attribute %#x = %v, want %v", a.Type, got, want[i])
		}
	}
	// Wrapping the KEK with itself (or anything) is refused.
	if _, err := c.WrapKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP, nil)}, kek, kek); err == nil {
		t.Fatal("the token wrapped the KEK out")
	}
	// And the attributes cannot be flipped.
	if err := c.SetAttributeValue(sh, kek, []*p11.Attribute{p11.NewAttribute(p11.CKA_EXTRACTABLE, true)}); err == nil {
		t.Fatal("CKA_EXTRACTABLE could be set to true")
	}
}

func TestUnsafeOrDuplicateKEKRefused(t *testing.T) {
	cfg := token(t)
	w := open(t, cfg)
	sh := session(t, w)
	mk := func(label string, extractable bool) {
		t.Helper()
		_, err := w.mod.ctx.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, extractable),
			p11.NewAttribute(p11.CKA_WRAP, true),
			p11.NewAttribute(p11.CKA_UNWRAP, true),
			p11.NewAttribute(p11.CKA_LABEL, label),
			p11.NewAttribute(p11.CKA_ID, []byte("1")),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	mk("weak", true)
	mk("twice", false)
	mk("twice", false)
	for _, c := range []struct {
		label string
		want  error
	}{{"weak", ErrWeakKEK}, {"twice", ErrDuplicateKEK}} {
		cfg := cfg
		cfg.KeyLabel = c.label
		if w, err := New(context.Background(), cfg); !errors.Is(err, c.want) || !errors.Is(err, kms.ErrUnavailable) {
			if err == nil {
				w.Close()
			}
			t.Errorf("KEK %q: %v, want %v", c.label, err, c.want)
		}
	}
}

func TestNewFailures(t *testing.T) {
	cfg := token(t)
	ctx := context.Background()
	noCreate := cfg
	noCreate.CreateIfMissing = false
	wrongPIN := cfg
	wrongPIN.PIN = "not-the-pin"
	wrongToken := cfg
	wrongToken.TokenLabel = "no-such-token"
	badModule := cfg
	badModule.ModulePath = filepath.Join(t.TempDir(), "missing.so")
	cases := []struct {
		name string
		cfg  Config
		want []error
	}{
		{"no KEK and no create", noCreate, []error{ErrNoKEK, kms.ErrUnavailable}},
		{"wrong PIN", wrongPIN, []error{kms.ErrUnavailable}},
		{"unknown token", wrongToken, []error{ErrTokenNotFound, kms.ErrUnavailable}},
		{"missing module", badModule, []error{kms.ErrUnavailable}},
		{"no module", Config{TokenLabel: "x", PIN: "y"}, []error{ErrConfig}},
		{"no PIN", Config{ModulePath: cfg.ModulePath, TokenLabel: "x"}, []error{ErrConfig}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			w, err := New(ctx, c.cfg)
			if err == nil {
				w.Close()
				t.Fatal("New succeeded")
			}
			for _, want := range c.want {
				if !errors.Is(err, want) {
					t.Errorf("%v does not wrap %v", err, want)
				}
			}
			if strings.Contains(err.Error(), cfg.PIN) || strings.Contains(err.Error(), wrongPIN.PIN) {
				t.Error("error message holds the PIN")
			}
			// A refused login is not retried (that would lock the token).
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
	if s := fmt.Sprint(cfg); strings.Contains(s, cfg.PIN) {
		t.Errorf("Config prints the PIN: %s", s)
	}
}

// TestHSMDown finalizes the library under a live wrapper: every operation
// then fails with ErrUnavailable within the timeout, and no key comes back.
func TestHSMDown(t *testing.T) {
	ctx := context.Background()
	cfg := token(t)
	cfg.Timeout = 600 * time.Millisecond
	w := open(t, cfg)
	c := kmstest.WrapOne(t, w)
	key, kid, wrapped, ref := c.Key, c.KID, c.Blob, c.Ref
	if err := w.mod.ctx.Finalize(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := w.Unwrap(ctx, kid, "movie-1", wrapped, ref)
	if !errors.Is(err, kms.ErrUnavailable) || got != nil {
		t.Fatalf("unwrap with the HSM down: %v", err)
	}
	if d := time.Since(start); d < cfg.Timeout/2 || d > cfg.Timeout+time.Second {
		t.Errorf("gave up after %s; want retries for about %s", d, cfg.Timeout)
	}
	if _, _, err := w.Wrap(ctx, kid, "movie-1", key); !errors.Is(err, kms.ErrUnavailable) {
		t.Fatalf("wrap with the HSM down: %v", err)
	}
	// The caller's own deadline is honoured too.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := w.Unwrap(short, kid, "movie-1", wrapped, ref); !errors.Is(err, kms.ErrUnavailable) {
		t.Fatalf("unwrap with a short deadline: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("ignored the context deadline: %s", d)
	}
}

func TestConcurrentWraps(t *testing.T) {
	cfg := token(t)
	cfg.MaxSessions = 4
	w := open(t, cfg)
	kmstest.ConcurrentRoundTrips(t, w, 16, 20)
	if n := len(w.pool.idle); n > cfg.MaxSessions {
		t.Errorf("%d idle sessions, max %d", n, cfg.MaxSessions)
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	cfg := token(t)
	w := open(t, cfg)
	key, kid := kmstest.RandomKey(t)
	old, oldRef, err := w.Wrap(ctx, kid, "m", key)
	if err != nil {
		t.Fatal(err)
	}
	other := open(t, cfg) // a second user of the same token
	newRef, err := w.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if newRef != DefaultKeyLabel+"/2" {
		t.Fatalf("rotated to %q", newRef)
	}
	wrapped, ref, err := w.Wrap(ctx, kid, "m", key)
	if err != nil || ref != newRef {
		t.Fatalf("wrap after rotate: ref %q, %v", ref, err)
	}
	if bytes.Equal(wrapped, old) {
		t.Fatal("new KEK gives the same blob")
	}
	for _, u := range []*Wrapper{w, other} {
		if got, err := u.Unwrap(ctx, kid, "m", old, oldRef); err != nil || !bytes.Equal(got, key) {
			t.Fatalf("old blob: %v", err)
		}
		if got, err := u.Unwrap(ctx, kid, "m", wrapped, ref); err != nil || !bytes.Equal(got, key) {
			t.Fatalf("new blob: %v", err)
		}
		// A blob presented under the wrong version does not unwrap.
		if _, err := u.Unwrap(ctx, kid, "m", old, ref); !errors.Is(err, kms.ErrUnwrap) {
			t.Fatalf("old blob under the new ref: %v", err)
		}
		if cur, err := u.CurrentKeyRef(ctx); err != nil || cur != newRef {
			t.Fatalf("CurrentKeyRef = %q, %v", cur, err)
		}
	}
}

// TestKeyStoreWithHSM runs the SQLite key store on this wrapper and greps the
// database files for the clear keys.
func TestKeyStoreWithHSM(t *testing.T) {
	ctx := context.Background()
	w := open(t, token(t))
	db := filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlstore.Open(ctx, db, w)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.KMSName() != Name {
		t.Errorf("store reports KMS %q", s.KMSName())
	}
	var all []keys.ContentKey
	for i := range 12 {
		k, err := s.GetOrCreate(ctx, fmt.Sprintf("hsm-%d", i/4), keys.TrackType(1+i%4), 0)
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.GetOrCreate(ctx, fmt.Sprintf("hsm-%d", i/4), keys.TrackType(1+i%4), 0)
		if err != nil || again.KID != k.KID || !bytes.Equal(again.Key, k.Key) {
			t.Fatalf("get-or-create is not idempotent: %v", err)
		}
		got, err := s.Get(ctx, k.KID)
		if err != nil || !bytes.Equal(got.Key.Key, k.Key) {
			t.Fatalf("Get %s: %v", k.KID, err)
		}
		all = append(all, k)
	}
	if _, err := w.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Rewrap(ctx); err != nil || n != len(all) {
		t.Fatalf("rewrap: %d keys, %v", n, err)
	}
	kmstest.NoClearKeys(t, kmstest.SQLiteFiles(db), all)
}
