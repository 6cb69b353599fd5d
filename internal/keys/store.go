package keys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// Sentinel errors of the key store. (They live here rather than in
// errors.go only because of file ownership while the store is built.)
var (
	ErrKeyNotFound     = errors.New("key not found")
	ErrInvalidRequest  = errors.New("invalid key request")
	ErrUnknownKeyState = errors.New("unknown key state")
	// ErrStoreConflict reports a get-or-create that kept losing races to
	// revocations; retrying the request is safe.
	ErrStoreConflict = errors.New("key store conflict")
)

// KeyState is the life-cycle state of a stored key.
type KeyState uint8

// Key states. A revoked key is never handed out by GetOrCreate; its slot
// gets a new key.
const (
	StateActive KeyState = iota + 1
	StateRevoked
)

var keyStateNames = map[KeyState]string{StateActive: "active", StateRevoked: "revoked"}

// String returns "active" or "revoked".
func (s KeyState) String() string {
	if n, ok := keyStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("KeyState(%d)", uint8(s))
}

// ParseKeyState parses "active" or "revoked", case-insensitively.
func ParseKeyState(s string) (KeyState, error) {
	for st, n := range keyStateNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return st, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want active or revoked)", ErrUnknownKeyState, s)
}

// MaxContentIDLen bounds content IDs (SPEKE CPIX@contentId, asset names).
const MaxContentIDLen = 256

// StoredKey is a key's record in the store. Key.KID and Key.IV are always
// set; Key.Key only when the store unwrapped it (Get), never by List.
type StoredKey struct {
	KID       drm.KeyID
	ContentID string
	TrackType TrackType
	// Period is the crypto period index (SPEKE ContentKeyPeriod@index); 0
	// without key rotation.
	Period    uint32
	State     KeyState
	CreatedAt time.Time
	// RotatedAt is when the key was last re-wrapped under a new KEK; zero
	// if never.
	RotatedAt time.Time
	// RevokedAt is when the key was revoked; zero while active.
	RevokedAt time.Time
	Key       ContentKey
}

// Unwrapped reports whether Key holds the clear key.
func (k StoredKey) Unwrapped() bool { return len(k.Key.Key) > 0 }

// String never prints key material.
func (k StoredKey) String() string {
	return fmt.Sprintf("StoredKey{KID:%s Content:%q Type:%s Period:%d State:%s}", k.KID, k.ContentID, k.TrackType, k.Period, k.State)
}

// GoString never prints key material.
func (k StoredKey) GoString() string { return k.String() }

// Store keeps content keys under KMS custody (envelope encryption). All
// methods are safe for concurrent use, also by several processes sharing
// one database.
type Store interface {
	// GetOrCreate returns the active key of (contentID, t, period), creating
	// it if there is none. Concurrent calls for one slot, from any number of
	// goroutines or processes, return the same key.
	GetOrCreate(ctx context.Context, contentID string, t TrackType, period uint32) (ContentKey, error)
	// Get returns a key (active or revoked; callers check State) with its
	// clear key unwrapped. A missing KID gives ErrKeyNotFound.
	Get(ctx context.Context, kid drm.KeyID) (StoredKey, error)
	// List returns the records of a content ID without clear keys, ordered
	// by track type, period and creation time.
	List(ctx context.Context, contentID string) ([]StoredKey, error)
	// Revoke marks a key revoked; revoking a revoked key is a no-op. A
	// missing KID gives ErrKeyNotFound.
	Revoke(ctx context.Context, kid drm.KeyID) error
	Close() error
}

// ValidateSlot checks a get-or-create request; stores call it.
func ValidateSlot(contentID string, t TrackType, _ uint32) error {
	if contentID == "" || len(contentID) > MaxContentIDLen {
		return fmt.Errorf("%w: content ID must have 1 to %d bytes, has %d", ErrInvalidRequest, MaxContentIDLen, len(contentID))
	}
	if !utf8.ValidString(contentID) {
		return fmt.Errorf("%w: content ID is not valid UTF-8", ErrInvalidRequest)
	}
	for _, r := range contentID {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: content ID %q has a control character", ErrInvalidRequest, contentID)
		}
	}
	if _, ok := trackTypeNames[t]; !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTrackType, t)
	}
	return nil
}

// StoreSource adapts a Store to the packager's KeySource: the key of each
// track type of one content ID, got or created on first use.
type StoreSource struct {
	store     Store
	contentID string
	period    uint32
	oneKey    bool
}

// SourceOption configures SourceFor.
type SourceOption func(*StoreSource)

// WithPeriod asks for the keys of one crypto period instead of period 0.
func WithPeriod(p uint32) SourceOption { return func(s *StoreSource) { s.period = p } }

// OneKeyPerAsset makes every track type use the content's ALL key.
func OneKeyPerAsset() SourceOption { return func(s *StoreSource) { s.oneKey = true } }

// SourceFor returns a key source for contentID backed by store: one key per
// track type (AUDIO, SD, HD, ...) unless OneKeyPerAsset is given.
func SourceFor(store Store, contentID string, opts ...SourceOption) *StoreSource {
	s := &StoreSource{store: store, contentID: contentID}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Key implements the packager's KeySource.
func (s *StoreSource) Key(ctx context.Context, t TrackType) (ContentKey, error) {
	if s.oneKey {
		t = All
	}
	k, err := s.store.GetOrCreate(ctx, s.contentID, t, s.period)
	if err != nil {
		return ContentKey{}, fmt.Errorf("%w: content %q track type %s: %w", ErrNoKey, s.contentID, t, err)
	}
	return k, nil
}
