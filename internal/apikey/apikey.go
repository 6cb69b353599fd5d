// Package apikey issues and checks the API tokens of encryptors (SPEKE),
// operators (admin API) and license-token minting backends, and declares the
// audit log that records what they did.
//
// Tokens are shown once, at creation, and stored only as the SHA-256 of
// their secret (see SecretHash for why a fast hash is right). The logic
// (token format, hashing, constant-time comparison, scope checks) lives
// here; persistence is a small Backend. The SQL backend is in package
// keys/sqlstore, next to the content keys, so API keys, audit entries and
// keys share one database and one folder of goose migrations:
// (*sqlstore.Store).APIKeys() returns a *Store.
package apikey

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// MaxNameLen bounds API key names.
const MaxNameLen = 128

// touchEvery is how stale last_used_at may get: Authenticate writes it at
// most once a minute per key, so authenticated traffic does not turn every
// request into a database write.
const touchEvery = time.Minute

// Key is an API key's record. It never holds the token or its hash.
type Key struct {
	// ID is the token's public part (16 hex digits).
	ID     string
	Name   string
	Scopes []Scope
	// CreatedAt, LastUsedAt (zero if never, else accurate to a minute) and
	// RevokedAt (zero while valid), UTC.
	CreatedAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

// Has reports whether the key carries scope s.
func (k Key) Has(s Scope) bool { return slices.Contains(k.Scopes, s) }

// Revoked reports whether the key was revoked.
func (k Key) Revoked() bool { return !k.RevokedAt.IsZero() }

// Principal names the key in logs and audit entries: "apikey:<id>".
func (k Key) Principal() string { return "apikey:" + k.ID }

// Record is a key as a Backend stores it.
type Record struct {
	Key
	SecretHash SecretHash
}

// Backend persists API keys. Implementations: keys/sqlstore.
type Backend interface {
	// InsertAPIKey stores a new key; an existing ID is an error.
	InsertAPIKey(ctx context.Context, r Record) error
	// LookupAPIKey returns the key with that ID, or an error wrapping
	// ErrNotFound.
	LookupAPIKey(ctx context.Context, id string) (Record, error)
	// TouchAPIKey sets last_used_at.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
	// ListAPIKeys returns every key (revoked ones too), oldest first.
	ListAPIKeys(ctx context.Context) ([]Key, error)
	// RevokeAPIKey sets revoked_at unless already set; an unknown ID gives
	// an error wrapping ErrNotFound.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
}

// Store creates, checks, lists and revokes API keys. It is safe for
// concurrent use if its Backend is.
type Store struct {
	b   Backend
	now func() time.Time
}

// New returns a Store on b.
func New(b Backend) *Store {
	return &Store{b: b, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Create makes a key with a name and scopes and returns its token, which is
// not stored and cannot be shown again.
func (s *Store) Create(ctx context.Context, name string, scopes []Scope) (plaintext string, k Key, err error) {
	if err := validName(name); err != nil {
		return "", Key{}, err
	}
	sc, err := normalizeScopes(scopes)
	if err != nil {
		return "", Key{}, err
	}
	token, id, h, err := newToken()
	if err != nil {
		return "", Key{}, err
	}
	k = Key{ID: id, Name: name, Scopes: sc, CreatedAt: s.now()}
	if err := s.b.InsertAPIKey(ctx, Record{Key: k, SecretHash: h}); err != nil {
		return "", Key{}, fmt.Errorf("apikey: create %q: %w", name, err)
	}
	return token, k, nil
}

func validName(name string) error {
	if name == "" || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("%w: name must be 1 to %d bytes of UTF-8", ErrInvalid, MaxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: name has a control character", ErrInvalid)
		}
	}
	return nil
}

// dummyHash is compared against when a token names no key, so unknown IDs
// cost the same as wrong secrets.
var dummyHash SecretHash

// Authenticate checks token and that its key carries scope. A malformed,
// unknown, wrong or revoked token gives ErrUnauthenticated (the error never
// says which, nor echoes the token); a valid token without the scope gives
// ErrForbidden. Other errors are backend failures (answer 5xx, not 401).
func (s *Store) Authenticate(ctx context.Context, token string, scope Scope) (Key, error) {
	if !scope.Valid() {
		return Key{}, fmt.Errorf("%w: %s", ErrUnknownScope, scope)
	}
	id, h, err := parseToken(token)
	if err != nil {
		return Key{}, err
	}
	rec, err := s.b.LookupAPIKey(ctx, id)
	if errors.Is(err, ErrNotFound) {
		hashesEqual(h, dummyHash)
		return Key{}, fmt.Errorf("%w: unknown or wrong token", ErrUnauthenticated)
	}
	if err != nil {
		return Key{}, fmt.Errorf("apikey: look up key %s: %w", id, err)
	}
	if !hashesEqual(h, rec.SecretHash) {
		return Key{}, fmt.Errorf("%w: unknown or wrong token", ErrUnauthenticated)
	}
	if rec.Revoked() {
		return Key{}, fmt.Errorf("%w: key %s is revoked", ErrUnauthenticated, id)
	}
	if !rec.Has(scope) {
		return Key{}, fmt.Errorf("%w: key %s lacks scope %s", ErrForbidden, id, scope)
	}
	if now := s.now(); now.Sub(rec.LastUsedAt) >= touchEvery {
		// Bookkeeping only: a failed write does not fail the request.
		if s.b.TouchAPIKey(ctx, id, now) == nil {
			rec.LastUsedAt = now
		}
	}
	return rec.Key, nil
}

// List returns every key, revoked ones too, oldest first.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	ks, err := s.b.ListAPIKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("apikey: list: %w", err)
	}
	return ks, nil
}

// Revoke revokes a key at once: its token stops authenticating. Revoking a
// revoked key is a no-op; an unknown ID gives ErrNotFound.
func (s *Store) Revoke(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("%w: API key %q", ErrNotFound, id)
	}
	if err := s.b.RevokeAPIKey(ctx, id, s.now()); err != nil {
		return fmt.Errorf("apikey: revoke %s: %w", id, err)
	}
	return nil
}
