package keys

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/enum"
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
	// ErrKIDConflict reports a GetOrCreateKID for a KID the store already
	// holds under another content ID. The error never names that content.
	ErrKIDConflict = errors.New("KID belongs to another content ID")
	// ErrKeyRevoked reports a GetOrCreateKID for a KID whose key is revoked:
	// the store refuses rather than hand out a second key under one KID.
	ErrKeyRevoked = errors.New("key is revoked")
)

// KeyState is the life-cycle state of a stored key.
type KeyState uint8

// Key states. A revoked key is never handed out by GetOrCreate; its slot
// gets a new key.
const (
	StateActive KeyState = iota + 1
	StateRevoked
)

var keyStateNames = enum.Names[KeyState]{StateActive: "active", StateRevoked: "revoked"}

// String returns "active" or "revoked".
func (s KeyState) String() string { return keyStateNames.String(s) }

// ParseKeyState parses "active" or "revoked", case-insensitively.
func ParseKeyState(s string) (KeyState, error) {
	return keyStateNames.Parse(s, ErrUnknownKeyState, "")
}

// KeyOrigin tells who chose a key's KID.
type KeyOrigin uint8

// Key origins.
const (
	// OriginSlot: the store chose the KID (GetOrCreate); the key is the one
	// active key of its (content ID, track type, period) slot.
	OriginSlot KeyOrigin = iota + 1
	// OriginKID: the caller chose the KID (GetOrCreateKID, e.g. a SPEKE
	// encryptor); the key is addressed by (content ID, KID), and its track
	// type and period are recorded but not unique.
	OriginKID
)

var keyOriginNames = enum.Names[KeyOrigin]{OriginSlot: "slot", OriginKID: "kid"}

// String returns "slot" or "kid".
func (o KeyOrigin) String() string { return keyOriginNames.String(o) }

// ParseKeyOrigin parses "slot" or "kid".
func ParseKeyOrigin(s string) (KeyOrigin, error) {
	return keyOriginNames.Lookup(s, ErrInvalidRequest, "key origin")
}

// StoredKey is a key's record in the store. Key.KID and Key.IV are always
// set; Key.Key only when the store unwrapped it (Get), never by List.
type StoredKey struct {
	KID       drm.KeyID
	ContentID string
	TrackType TrackType
	// Period is the crypto period index (SPEKE ContentKeyPeriod@index); 0
	// without key rotation.
	Period uint32
	State  KeyState
	// Origin tells whether the store (slot key) or the caller (KID-addressed
	// key) chose the KID.
	Origin    KeyOrigin
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
//
// A store holds two kinds of keys, both found by KID (Get):
//   - slot keys (OriginSlot), whose KID the store chooses: at most one
//     active key per (content ID, track type, period), got by GetOrCreate;
//   - KID-addressed keys (OriginKID), whose KID the caller chooses (SPEKE
//     encryptors pick the KID and expect the key of exactly that KID): one
//     key per KID, got by GetOrCreateKID. Their track type and period are
//     recorded, but they do not take the slot: GetOrCreate never returns
//     them, and a slot key and any number of KID-addressed keys of one
//     (content ID, track type, period) coexist.
//
// KIDs are unique across the whole store, whatever the origin.
type Store interface {
	// GetOrCreate returns the active slot key of (contentID, t, period),
	// creating it if there is none. Concurrent calls for one slot, from any
	// number of goroutines or processes, return the same key.
	GetOrCreate(ctx context.Context, contentID string, t TrackType, period uint32) (ContentKey, error)
	// GetOrCreateKID returns the key of kid if the store has it under
	// contentID (whatever its origin, recorded track type and period),
	// otherwise creates a key with exactly that KID, recorded with t and
	// period. Concurrent calls for one (contentID, kid), from any number of
	// goroutines or processes, return the same key. A KID held under
	// another content ID gives ErrKIDConflict; a revoked KID gives
	// ErrKeyRevoked (never a new key under an old KID); an all-zero KID
	// gives ErrInvalidRequest.
	GetOrCreateKID(ctx context.Context, contentID string, kid drm.KeyID, t TrackType, period uint32) (ContentKey, error)
	// GetByContent returns the key kid of contentID with its clear key. A
	// KID that is missing or belongs to another content ID gives
	// ErrKeyNotFound (the other content is not revealed).
	GetByContent(ctx context.Context, contentID string, kid drm.KeyID) (StoredKey, error)
	// Get returns a key (active or revoked; callers check State) with its
	// clear key unwrapped. A missing KID gives ErrKeyNotFound.
	Get(ctx context.Context, kid drm.KeyID) (StoredKey, error)
	// List returns the records of a content ID without clear keys, ordered
	// by track type, period and creation time.
	List(ctx context.Context, contentID string) ([]StoredKey, error)
	// Revoke marks a key revoked; revoking a revoked key is a no-op. A
	// missing KID gives ErrKeyNotFound.
	Revoke(ctx context.Context, kid drm.KeyID) error
	// Ping checks that the store's database answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// ValidateSlot checks a get-or-create request; stores call it. A content
// ID outside ValidateContentID's rule gives an error that is both
// ErrInvalidRequest and ErrInvalidContentID.
func ValidateSlot(contentID string, t TrackType, _ uint32) error {
	if err := ValidateContentID(contentID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if _, ok := trackTypeNames[t]; !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTrackType, t)
	}
	return nil
}

// ValidateKID checks a GetOrCreateKID request; stores call it. The all-zero
// KID is refused: it is a placeholder (a SPEKE request without a usable KID,
// the key-rotation default_KID of DASH-IF IOP), never the name of one key.
func ValidateKID(contentID string, kid drm.KeyID, t TrackType, period uint32) error {
	if err := ValidateSlot(contentID, t, period); err != nil {
		return err
	}
	if kid.IsZero() {
		return fmt.Errorf("%w: all-zero KID", ErrInvalidRequest)
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

	times    PeriodTimesStore // nil: period times are not recorded
	planMu   sync.Mutex
	planned  []PeriodTimes // recorded before the first key is given
	recorded bool
	planErr  error
}

// SourceOption configures SourceFor.
type SourceOption func(*StoreSource)

// WithPeriod asks for the keys of one crypto period instead of period 0.
func WithPeriod(p uint32) SourceOption { return func(s *StoreSource) { s.period = p } }

// RecordPeriodTimes makes the source record in times the media time of
// every key period it is planned with (PlanPeriodTimes), before it gives
// the first key: the store then knows what each period index covers, as it
// does for a SPEKE encryptor's periods.
func RecordPeriodTimes(times PeriodTimesStore) SourceOption {
	return func(s *StoreSource) { s.times = times }
}

// OneKeyPerAsset makes every track type use the content's ALL key.
func OneKeyPerAsset() SourceOption { return func(s *StoreSource) { s.oneKey = true } }

// PlanPeriodTimes tells the source the media time of every key period (in
// index order) before any key is asked for; with RecordPeriodTimes they
// are recorded when the first key is.
func (s *StoreSource) PlanPeriodTimes(periods []PeriodTimes) {
	s.planMu.Lock()
	defer s.planMu.Unlock()
	s.planned = append([]PeriodTimes(nil), periods...)
	s.recorded, s.planErr = false, nil
}

// recordPlan records the planned period times once; a contradiction with
// those recorded (another key period duration, other media) is an error
// naming the period, and no key is given.
func (s *StoreSource) recordPlan(ctx context.Context) error {
	if s.times == nil {
		return nil
	}
	s.planMu.Lock()
	defer s.planMu.Unlock()
	if s.recorded {
		return s.planErr
	}
	s.recorded = true
	s.planErr = RecordMediaPeriods(ctx, s.times, s.contentID, s.planned)
	return s.planErr
}

// RecordMediaPeriods records the media time of key periods of contentID
// (in index order) in times, as a packager that plans them from its input
// knows them, or checks them against those recorded. A content whose
// periods were recorded on the wall clock (a SPEKE v2.1 encryptor's
// @start/@end) keeps that form: media time 0 is 1970-01-01T00:00:00Z, as
// drmpipe package --speke-period-timing start-end sends it, so the same
// periods agree. A contradiction (another key period duration, other
// media) is an error wrapping ErrPeriodConflict that names the period.
func RecordMediaPeriods(ctx context.Context, times PeriodTimesStore, contentID string, periods []PeriodTimes) error {
	recs, err := times.ListPeriodTimes(ctx, contentID)
	if err != nil {
		return fmt.Errorf("content %q: key period times: %w", contentID, err)
	}
	wallClock := len(recs) > 0 && recs[0].WallClock
	for _, p := range periods {
		p.WallClock = wallClock
		if err := times.RecordPeriodTimes(ctx, contentID, p); err != nil {
			return fmt.Errorf("content %q key period %d (media time %s-%s): %w", contentID, p.Period, p.Start, p.End, err)
		}
	}
	return nil
}

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
	return s.PeriodKey(ctx, t, s.period)
}

// PeriodKey returns the key of track type t in key period n (key rotation):
// the store's slot (content ID, track type or ALL, n), got or created, so
// the same content packaged again gets the same key in every period.
func (s *StoreSource) PeriodKey(ctx context.Context, t TrackType, n uint32) (ContentKey, error) {
	if err := s.recordPlan(ctx); err != nil {
		return ContentKey{}, err
	}
	if s.oneKey {
		t = All
	}
	k, err := s.store.GetOrCreate(ctx, s.contentID, t, n)
	if err != nil {
		return ContentKey{}, fmt.Errorf("%w: content %q track type %s period %d: %w", ErrNoKey, s.contentID, t, n, err)
	}
	return k, nil
}
