package apikey

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// memBackend is an in-memory Backend that counts lookups and can fail.
type memBackend struct {
	mu      sync.Mutex
	rows    map[string]Record
	lookups int
	touches int
	fail    error
}

func newMem() *memBackend { return &memBackend{rows: map[string]Record{}} }

// createKey creates the API key name with scopes in s and returns its
// token; a failure fails t.
func createKey(t *testing.T, s *Store, name string, scopes ...Scope) (string, Key) {
	t.Helper()
	tok, k, err := s.Create(context.Background(), name, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return tok, k
}

func (m *memBackend) InsertAPIKey(_ context.Context, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rows[r.ID]; ok {
		return fmt.Errorf("duplicate %s", r.ID)
	}
	m.rows[r.ID] = r
	return nil
}

func (m *memBackend) LookupAPIKey(_ context.Context, id string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	if m.fail != nil {
		return Record{}, m.fail
	}
	r, ok := m.rows[id]
	if !ok {
		return Record{}, ErrNotFound
	}
	return r, nil
}

func (m *memBackend) TouchAPIKey(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.touches++
	r := m.rows[id]
	r.LastUsedAt = at
	m.rows[id] = r
	return nil
}

func (m *memBackend) ListAPIKeys(context.Context) ([]Key, error) { return nil, nil }

func (m *memBackend) RevokeAPIKey(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[id]
	if !ok {
		return ErrNotFound
	}
	if r.RevokedAt.IsZero() {
		r.RevokedAt = at
		m.rows[id] = r
	}
	return nil
}

func TestScopes(t *testing.T) {
	for _, s := range Scopes() {
		got, err := ParseScope(strings.ToUpper(s.String()))
		if err != nil || got != s {
			t.Fatalf("%s: %v %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "spek", "admin,speke", "license_token"} {
		if _, err := ParseScope(bad); !errors.Is(err, ErrUnknownScope) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if s, err := ParseScope("package"); err != nil || s != ScopePackage {
		t.Errorf("package (the jobs API): %v %v", s, err)
	}
	sc, err := ParseScopes("license-token,speke,speke")
	if err != nil || FormatScopes(sc) != "speke,license-token" {
		t.Fatalf("ParseScopes: %v %v", sc, err)
	}
	if _, err := ParseScopes(""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no scopes: %v", err)
	}
}

func TestTokenFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		tok, id, h, err := newToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != TokenLen || !strings.HasPrefix(tok, "dp_"+id+"_") || seen[id] {
			t.Fatalf("token %q / id %s", tok, id)
		}
		seen[id] = true
		raw, err := base64.RawURLEncoding.DecodeString(tok[len("dp_")+idLen+1:])
		if err != nil || len(raw) != 32 || sha256.Sum256(raw) != h {
			t.Fatalf("secret part of %q: %v", tok, err)
		}
		pid, ph, err := parseToken(tok)
		if err != nil || pid != id || ph != h {
			t.Fatalf("parseToken(%q) = %s %v", tok, pid, err)
		}
	}
	tok, _, _, _ := newToken()
	for name, bad := range map[string]string{
		"empty":          "",
		"short":          tok[:len(tok)-1],
		"long":           tok + "A",
		"prefix":         "dq" + tok[2:],
		"upper-case id":  tok[:3] + strings.ToUpper(tok[3:3+idLen]) + tok[3+idLen:],
		"no separator":   tok[:3+idLen] + "-" + tok[4+idLen:],
		"bad base64":     tok[:len(tok)-1] + "=",
		"non-canonical":  tok[:len(tok)-1] + string(nonCanonicalLast(tok[len(tok)-1])),
		"bearer inside":  "Bearer " + tok[7:],
		"non-hex id":     tok[:3] + "g" + tok[4:],
		"std b64 secret": tok[:len(tok)-1] + "+",
	} {
		if _, _, err := parseToken(bad); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %q parsed (%v)", name, bad, err)
		}
	}
}

// nonCanonicalLast returns a last base64url character whose two unused low
// bits differ from c's (RFC 4648 §3.5: such encodings are rejected).
func nonCanonicalLast(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return alphabet[i^1]
}

// TestHashesEqual exercises the constant-time comparison directly: equal,
// differing at the first or last byte, all zero.
func TestHashesEqual(t *testing.T) {
	a := SecretHash(sha256.Sum256([]byte("a")))
	first, last := a, a
	first[0] ^= 0x80
	last[len(last)-1] ^= 1
	if !hashesEqual(a, a) || hashesEqual(a, first) || hashesEqual(a, last) || hashesEqual(a, dummyHash) {
		t.Fatal("hashesEqual is wrong")
	}
}

func TestStoreAuthenticate(t *testing.T) {
	ctx := context.Background()
	m := newMem()
	s := New(m)
	tok, k := createKey(t, s, "packager", ScopeSPEKE)
	if r := m.rows[k.ID]; r.SecretHash == (SecretHash{}) || strings.Contains(fmt.Sprintf("%+v", r), tok[len(tok)-20:]) {
		t.Fatal("the backend got the secret, not its hash")
	}
	if _, err := s.Authenticate(ctx, tok, ScopeSPEKE); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, tok, ScopeSPEKE); err != nil {
		t.Fatal(err)
	}
	if m.touches != 1 {
		t.Fatalf("%d last-used writes for two uses within a minute, want 1", m.touches)
	}

	// Wrong secret of a known ID, and an unknown ID: both go through a
	// lookup and the constant-time comparison, and fail the same way.
	wrong := tok[:len(tok)-43] + strings.Repeat("A", 42) + "A"
	unknown := "dp_ffffffffffffffff" + tok[len(tok)-44:]
	for _, bad := range []string{wrong, unknown} {
		before := m.lookups
		_, err := s.Authenticate(ctx, bad, ScopeSPEKE)
		if !errors.Is(err, ErrUnauthenticated) || m.lookups != before+1 {
			t.Fatalf("%q: %v after %d lookups", bad, err, m.lookups-before)
		}
	}
	// A malformed token never reaches the backend.
	before := m.lookups
	if _, err := s.Authenticate(ctx, "dp_x", ScopeSPEKE); !errors.Is(err, ErrUnauthenticated) || m.lookups != before {
		t.Fatalf("malformed: %v", err)
	}
	if _, err := s.Authenticate(ctx, tok, ScopeAdmin); !errors.Is(err, ErrForbidden) {
		t.Fatalf("scope: %v", err)
	}
	if _, err := s.Authenticate(ctx, tok, Scope(42)); !errors.Is(err, ErrUnknownScope) {
		t.Fatalf("unknown scope: %v", err)
	}
	// Backend down: not a 401 (the token may be fine).
	m.fail = errors.New("connection refused")
	if _, err := s.Authenticate(ctx, tok, ScopeSPEKE); err == nil || errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrForbidden) {
		t.Fatalf("backend failure: %v", err)
	}
	m.fail = nil
	if err := s.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, tok, ScopeSPEKE); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("revoked: %v", err)
	}
	if err := s.Revoke(ctx, "not-an-id"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke bad id: %v", err)
	}
}
