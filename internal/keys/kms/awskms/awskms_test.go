package awskms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/kmstest"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// config points at a local-kms; local-kms accepts any credentials.
func config(lk *testtools.LocalKMS, keyID string) Config {
	return Config{KeyID: keyID, Region: lk.Region, Endpoint: lk.Endpoint,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret", Timeout: 3 * time.Second}
}

func open(t *testing.T, cfg Config) *Wrapper {
	t.Helper()
	w, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w
}

// createKey makes a new symmetric key through the SDK.
func createKey(t *testing.T, w *Wrapper) string {
	t.Helper()
	out, err := w.client.CreateKey(context.Background(), &awskms.CreateKeyInput{Description: aws.String("drmpipe test KEK")})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return *out.KeyMetadata.Arn
}

func TestWrapUnwrapRoundTrip(t *testing.T) {
	ctx := context.Background()
	lk := testtools.StartLocalKMS(t)
	seeded := open(t, config(lk, lk.Alias))
	arn := createKey(t, seeded)
	for _, keyID := range []string{lk.KeyID, lk.Alias, arn} {
		t.Run(keyID, func(t *testing.T) {
			w := open(t, config(lk, keyID))
			key, kid := kmstest.RandomKey(t)
			wrapped, ref, err := w.Wrap(ctx, kid, "movie-1", key)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ref, "arn:aws:kms:"+lk.Region+":"+lk.AccountID+":key/") {
				t.Errorf("key ref %q is not a key ARN", ref)
			}
			if cur, err := w.CurrentKeyRef(ctx); err != nil || cur != ref {
				t.Errorf("CurrentKeyRef = %q, %v; Wrap used %q", cur, err, ref)
			}
			if bytes.Contains(wrapped, key) {
				t.Fatal("wrapped blob holds the clear key")
			}
			got, err := w.Unwrap(ctx, kid, "movie-1", wrapped, ref)
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("unwrap: %v", err)
			}
		})
	}
}

func TestMovedOrDamagedBlobFails(t *testing.T) {
	ctx := context.Background()
	lk := testtools.StartLocalKMS(t)
	w := open(t, config(lk, lk.KeyID))
	otherARN := createKey(t, w)
	c := kmstest.WrapOne(t, w)
	kid, wrapped, ref := c.KID, c.Blob, c.Ref
	kmstest.CheckRefusals(t, w, c.Key, append(c.Refusals(), []kmstest.Refusal{
		{Name: "other KMS key", KID: kid, ContentID: "movie-1", Blob: wrapped, Ref: otherARN, Want: kms.ErrUnwrap},
		{Name: "empty blob", KID: kid, ContentID: "movie-1", Blob: nil, Ref: ref, Want: kms.ErrBadInput},
		{Name: "empty ref", KID: kid, ContentID: "movie-1", Blob: wrapped, Ref: "", Want: kms.ErrUnknownKeyRef},
	}...))
	if _, _, err := w.Wrap(ctx, kid, "m", nil); !errors.Is(err, kms.ErrBadInput) {
		t.Errorf("empty key: %v", err)
	}
	c.CheckUnwraps(t, w)
}

// TestKMSDown stops local-kms under a live wrapper: operations fail with
// ErrUnavailable within the timeout, and no key comes back.
func TestKMSDown(t *testing.T) {
	ctx := context.Background()
	lk := testtools.StartLocalKMS(t)
	cfg := config(lk, lk.KeyID)
	cfg.Timeout = 1500 * time.Millisecond
	w := open(t, cfg)
	c := kmstest.WrapOne(t, w)
	key, kid, wrapped, ref := c.Key, c.KID, c.Blob, c.Ref
	lk.Stop()
	start := time.Now()
	got, err := w.Unwrap(ctx, kid, "movie-1", wrapped, ref)
	if !errors.Is(err, kms.ErrUnavailable) || got != nil {
		t.Fatalf("unwrap with KMS down: %v", err)
	}
	if d := time.Since(start); d > cfg.Timeout+time.Second {
		t.Errorf("took %s, timeout %s", d, cfg.Timeout)
	}
	if _, _, err := w.Wrap(ctx, kid, "movie-1", key); !errors.Is(err, kms.ErrUnavailable) {
		t.Fatalf("wrap with KMS down: %v", err)
	}
	// New against a dead endpoint fails too.
	if _, err := New(ctx, cfg); !errors.Is(err, kms.ErrUnavailable) {
		t.Fatalf("New with KMS down: %v", err)
	}
}

// fakeKMS answers DescribeKey properly and every other call with status and
// body, counting the calls.
func fakeKMS(t *testing.T, status int, body string, delay time.Duration) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") == "TrentService.DescribeKey" {
			io.WriteString(rw, `{"KeyMetadata":{"Arn":"arn:aws:kms:eu-west-2:111122223333:key/k1","KeyId":"k1","Enabled":true,"KeyState":"Enabled","KeyUsage":"ENCRYPT_DECRYPT","KeySpec":"SYMMETRIC_DEFAULT"}}`)
			return
		}
		calls.Add(1)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		rw.WriteHeader(status)
		io.WriteString(rw, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestRefusalsAreRetriedThenUnavailable(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		status    int
		body      string
		delay     time.Duration
		wantCalls int32 // 0: don't check
		want      error
	}{
		{"throttled", 400, `{"__type":"ThrottlingException","message":"Rate exceeded"}`, 0, 3, kms.ErrUnavailable},
		{"internal error", 500, `{"__type":"KMSInternalException","message":"oops"}`, 0, 3, kms.ErrUnavailable},
		{"disabled key", 400, `{"__type":"DisabledException","message":"disabled"}`, 0, 1, kms.ErrUnavailable},
		{"access denied", 400, `{"__type":"AccessDeniedException","message":"no"}`, 0, 1, kms.ErrUnavailable},
		{"bad ciphertext", 400, `{"__type":"InvalidCiphertextException"}`, 0, 1, kms.ErrUnwrap},
		{"hangs", 200, `{}`, 5 * time.Second, 0, kms.ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, calls := fakeKMS(t, c.status, c.body, c.delay)
			w := open(t, Config{KeyID: "alias/x", Region: "eu-west-2", Endpoint: srv.URL,
				AccessKeyID: "AKIDTEST", SecretAccessKey: "s", Timeout: 800 * time.Millisecond, MaxAttempts: 3})
			key, kid := kmstest.RandomKey(t)
			start := time.Now()
			got, err := w.Unwrap(ctx, kid, "c", []byte("blob"), "arn:aws:kms:eu-west-2:111122223333:key/k1")
			if !errors.Is(err, c.want) || got != nil {
				t.Fatalf("unwrap: %v, want %v", err, c.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
			if c.wantCalls != 0 && calls.Load() != c.wantCalls {
				t.Errorf("%d Decrypt calls, want %d", calls.Load(), c.wantCalls)
			}
			if strings.Contains(err.Error(), "oops") || strings.Contains(err.Error(), "Rate exceeded") {
				t.Errorf("upstream message leaked into the error: %v", err)
			}
			if errors.Is(c.want, kms.ErrUnavailable) {
				if _, _, err := w.Wrap(ctx, kid, "c", key); !errors.Is(err, kms.ErrUnavailable) {
					t.Fatalf("wrap: %v", err)
				}
			}
		})
	}
}

func TestConfig(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{
		{Region: "eu-west-2"},
		{KeyID: "alias/x"},
		{KeyID: "alias/x", Region: "eu-west-2", AccessKeyID: "only-id"},
		{KeyID: "alias/x", Region: "eu-west-2", Timeout: -1},
	} {
		if _, err := New(ctx, cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%v: %v", cfg, err)
		}
	}
	c := Config{KeyID: "alias/x", Region: "r", AccessKeyID: "AKID", SecretAccessKey: "very-secret", SessionToken: "tok"}
	if s := fmt.Sprint(c); strings.Contains(s, "very-secret") || strings.Contains(s, "tok\"") {
		t.Errorf("Config prints secrets: %s", s)
	}
}

func TestConcurrentWraps(t *testing.T) {
	lk := testtools.StartLocalKMS(t)
	kmstest.ConcurrentRoundTrips(t, open(t, config(lk, lk.KeyID)), 16, 10)
}

// TestKeyStoreWithAWSKMS runs the SQLite key store on this wrapper, rotates
// by re-pointing the alias at a new KMS key, re-wraps, and greps the
// database files for the clear keys.
func TestKeyStoreWithAWSKMS(t *testing.T) {
	ctx := context.Background()
	lk := testtools.StartLocalKMS(t)
	w := open(t, config(lk, lk.Alias))
	first, err := w.CurrentKeyRef(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlstore.Open(ctx, db, w)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var all []keys.ContentKey
	for i := range 12 {
		k, err := s.GetOrCreate(ctx, fmt.Sprintf("aws-%d", i/4), keys.TrackType(1+i%4), 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, k.KID)
		if err != nil || !bytes.Equal(got.Key.Key, k.Key) {
			t.Fatalf("Get %s: %v", k.KID, err)
		}
		all = append(all, k)
	}
	second := createKey(t, w)
	if _, err := w.client.UpdateAlias(ctx, &awskms.UpdateAliasInput{AliasName: aws.String(lk.Alias), TargetKeyId: aws.String(second)}); err != nil {
		t.Fatal(err)
	}
	if cur, err := w.CurrentKeyRef(ctx); err != nil || cur != second || cur == first {
		t.Fatalf("after re-pointing the alias: CurrentKeyRef = %q, %v", cur, err)
	}
	if n, err := s.Rewrap(ctx); err != nil || n != len(all) {
		t.Fatalf("rewrap: %d keys, %v", n, err)
	}
	// Re-wrapped keys decrypt under the new key only: disable the old one.
	if _, err := w.client.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: aws.String(first)}); err != nil {
		t.Fatal(err)
	}
	for _, k := range all {
		got, err := s.Get(ctx, k.KID)
		if err != nil || !bytes.Equal(got.Key.Key, k.Key) {
			t.Fatalf("Get %s after rewrap: %v", k.KID, err)
		}
	}
	kmstest.NoClearKeys(t, kmstest.SQLiteFiles(db), all)
}
