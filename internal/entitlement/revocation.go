package entitlement

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/enum"
)

// RevocationKind is what a revocation applies to.
type RevocationKind uint8

// Revocation kinds.
const (
	RevokeUser   RevocationKind = iota + 1 // token sub
	RevokeDevice                           // token did
	RevokeToken                            // token jti
	RevokeKID                              // a content key: never released again
)

var revocationKindNames = enum.Names[RevocationKind]{RevokeUser: "user", RevokeDevice: "device", RevokeToken: "token", RevokeKID: "kid"}

func (k RevocationKind) String() string { return revocationKindNames.String(k) }

// ParseRevocationKind parses "user", "device", "token" or "kid".
func ParseRevocationKind(s string) (RevocationKind, error) {
	return revocationKindNames.Parse(s, ErrRevocation, "unknown kind")
}

// MarshalText implements encoding.TextMarshaler.
func (k RevocationKind) MarshalText() ([]byte, error) {
	if _, ok := revocationKindNames[k]; !ok {
		return nil, fmt.Errorf("%w: unknown kind %d", ErrRevocation, k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *RevocationKind) UnmarshalText(b []byte) error {
	v, err := ParseRevocationKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// maxRevocationField bounds By and Reason.
const maxRevocationField = 1024

// Revocation is one audited revocation: what (Kind, Value), who (By), why
// and when (At).
type Revocation struct {
	Kind   RevocationKind `json:"kind"`
	Value  string         `json:"value"`
	By     string         `json:"by"`
	Reason string         `json:"reason,omitempty"`
	At     time.Time      `json:"at"`
}

// Normalize validates r and returns it in canonical form: KIDs as
// lowercase UUID strings (surrounding space trimmed); At set to now when
// zero, in UTC, to the microsecond. User, device and token values are
// compared byte for byte with token claims, so they are only validated
// (ValidateSubjectID, errors wrapping ErrInvalidID too), never rewritten.
// By and Reason are bounded UTF-8 without NUL, as the audit log takes them.
func (r Revocation) Normalize(now time.Time) (Revocation, error) {
	if _, ok := revocationKindNames[r.Kind]; !ok {
		return r, fmt.Errorf("%w: unknown kind %d", ErrRevocation, r.Kind)
	}
	for _, f := range []string{r.By, r.Reason} {
		if len(f) > maxRevocationField || !utf8.ValidString(f) || strings.IndexByte(f, 0) >= 0 {
			return r, fmt.Errorf("%w: by or reason too long, not UTF-8 or holding NUL", ErrRevocation)
		}
	}
	if r.Kind == RevokeKID {
		kid, err := drm.ParseKeyID(strings.TrimSpace(r.Value))
		if err != nil {
			return r, fmt.Errorf("%w: %w", ErrRevocation, err)
		}
		r.Value = kid.String()
	} else if err := ValidateSubjectID(r.Value); err != nil {
		return r, fmt.Errorf("%w: %s value: %w", ErrRevocation, r.Kind, err)
	}
	if r.At.IsZero() {
		r.At = now
	}
	// Microseconds, as the audit log stores them: a revocation restored
	// from it is the same revocation.
	r.At = r.At.UTC().Truncate(time.Microsecond)
	return r, nil
}

// Revocations is the revocation list: checked on every license request,
// shared by all replicas when backed by Redis.
type Revocations interface {
	// Revoke records r (normalized) in the state and the audit log and
	// notifies subscribers (on every replica). When the shared state
	// cannot be reached, r is still applied on this replica (and its
	// subscribers notified) and the error wraps ErrNotPropagated.
	Revoke(ctx context.Context, r Revocation) error
	// IsRevoked reports whether value of kind is revoked. KID values are
	// canonical UUID strings (drm.KeyID.String).
	IsRevoked(ctx context.Context, kind RevocationKind, value string) (bool, error)
	// List returns the audit log, oldest first.
	List(ctx context.Context) ([]Revocation, error)
	// Subscribe calls fn for every revocation applied from now on (license
	// cache purge, CDN purge webhooks). fn must not block for long. The
	// returned function unsubscribes.
	Subscribe(fn func(Revocation)) (cancel func())
	// Ready is nil while the state is current; an error when it may be
	// stale (store unreachable; the last known state keeps serving).
	Ready() error
	// Restore loads revocations recorded earlier (the durable audit log,
	// at startup) into the live state, without notifying subscribers:
	// they were applied, and their purges done, when first made. Entries
	// whose value ValidateSubjectID refuses (recorded under the looser
	// rule of earlier versions) are skipped: no token can carry them.
	Restore(rs []Revocation) error
	// Learn adds revocations read from the durable log after startup
	// (RevocationSync) and notifies subscribers of each one this replica
	// did not hold: it was made elsewhere, and this replica's purges are
	// still due. It returns how many were new.
	Learn(rs []Revocation) (int, error)
}

// Subscribers is a set of revocation callbacks; Revocations
// implementations embed it.
type Subscribers struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(Revocation)
}

// Subscribe adds fn; the returned function removes it.
func (s *Subscribers) Subscribe(fn func(Revocation)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fns == nil {
		s.fns = map[int]func(Revocation){}
	}
	id := s.next
	s.next++
	s.fns[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.fns, id)
	}
}

// Notify calls every subscriber with r.
func (s *Subscribers) Notify(r Revocation) {
	s.mu.Lock()
	fns := make([]func(Revocation), 0, len(s.fns))
	for _, fn := range s.fns {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(r)
	}
}

// MemoryRevocations is an in-process Revocations (one replica, or tests).
type MemoryRevocations struct {
	Subscribers
	now   func() time.Time
	mu    sync.RWMutex
	state map[RevocationKind]map[string]Revocation
	audit []Revocation
}

// NewMemoryRevocations returns an empty list; now is the clock (nil =
// time.Now).
func NewMemoryRevocations(now func() time.Time) *MemoryRevocations {
	if now == nil {
		now = time.Now
	}
	return &MemoryRevocations{now: now, state: map[RevocationKind]map[string]Revocation{}}
}

// Revoke implements Revocations.
func (m *MemoryRevocations) Revoke(_ context.Context, r Revocation) error {
	r, err := r.Normalize(m.now())
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.state[r.Kind] == nil {
		m.state[r.Kind] = map[string]Revocation{}
	}
	m.state[r.Kind][r.Value] = r
	m.audit = append(m.audit, r)
	m.mu.Unlock()
	m.Notify(r)
	return nil
}

// IsRevoked implements Revocations.
func (m *MemoryRevocations) IsRevoked(_ context.Context, kind RevocationKind, value string) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.state[kind][value]
	return ok, nil
}

// List implements Revocations.
func (m *MemoryRevocations) List(context.Context) ([]Revocation, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]Revocation(nil), m.audit...), nil
}

// Ready implements Revocations; memory is always current.
func (m *MemoryRevocations) Ready() error { return nil }

// Restore implements Revocations: the state and the audit list (List)
// get rs.
func (m *MemoryRevocations) Restore(rs []Revocation) error {
	_, err := m.add(rs, false)
	return err
}

// Learn implements Revocations.
func (m *MemoryRevocations) Learn(rs []Revocation) (int, error) {
	added, err := m.add(rs, true)
	for _, r := range added {
		m.Notify(r)
	}
	return len(added), err
}

// add puts rs into the state and the audit list (with onlyNew, only those
// the state does not hold) and returns what it added.
func (m *MemoryRevocations) add(rs []Revocation, onlyNew bool) ([]Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var added []Revocation
	for _, r := range rs {
		r, err := r.Normalize(m.now())
		if errors.Is(err, ErrInvalidID) {
			continue // see Revocations.Restore
		}
		if err != nil {
			return added, err
		}
		if _, had := m.state[r.Kind][r.Value]; had && onlyNew {
			continue
		}
		if m.state[r.Kind] == nil {
			m.state[r.Kind] = map[string]Revocation{}
		}
		m.state[r.Kind][r.Value] = r
		m.audit = append(m.audit, r)
		added = append(added, r)
	}
	return added, nil
}
