package entitlement

import (
	"context"
	"sync"
	"time"
)

// DeviceTracker keeps, per user, the distinct devices seen in a sliding
// window, to enforce ContentPolicy.MaxDevices.
type DeviceTracker interface {
	// Admit records that user used device at now and reports whether it is
	// within limit: a device already seen within window is always admitted
	// (its time is refreshed); a new one only while fewer than limit
	// devices were seen within window. A refused device is not recorded.
	Admit(ctx context.Context, user, device string, now time.Time, window time.Duration, limit int) (bool, error)
}

// MemoryDevices is an in-process DeviceTracker (one replica only).
type MemoryDevices struct {
	mu    sync.Mutex
	users map[string]map[string]time.Time
	calls int
}

// NewMemoryDevices returns an empty tracker.
func NewMemoryDevices() *MemoryDevices {
	return &MemoryDevices{users: map[string]map[string]time.Time{}}
}

// sweepEvery is how many Admit calls pass between full sweeps of users
// whose devices all left the window.
const sweepEvery = 4096

// Admit implements DeviceTracker.
func (m *MemoryDevices) Admit(_ context.Context, user, device string, now time.Time, window time.Duration, limit int) (bool, error) {
	cutoff := now.Add(-window)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.calls%sweepEvery == 0 {
		for u, devs := range m.users {
			prune(devs, cutoff)
			if len(devs) == 0 {
				delete(m.users, u)
			}
		}
	}
	devs := m.users[user]
	if devs == nil {
		devs = map[string]time.Time{}
		m.users[user] = devs
	}
	prune(devs, cutoff)
	if _, seen := devs[device]; !seen && len(devs) >= limit {
		return false, nil
	}
	devs[device] = now
	return true, nil
}

// prune removes devices last seen at or before cutoff.
func prune(devs map[string]time.Time, cutoff time.Time) {
	for d, t := range devs {
		if !t.After(cutoff) {
			delete(devs, d)
		}
	}
}

// ReplayGuard counts the uses of each token ID.
type ReplayGuard interface {
	// Use records one use of token id (issued at issued, the token's iat)
	// at now and returns the number of uses including this one. The count
	// is forgotten ttl after the first use.
	Use(ctx context.Context, id string, issued, now time.Time, ttl time.Duration) (int64, error)
}

// MemoryReplay is an in-process ReplayGuard (one replica only).
type MemoryReplay struct {
	mu    sync.Mutex
	uses  map[string]replayEntry
	calls int
}

type replayEntry struct {
	n       int64
	expires time.Time
}

// NewMemoryReplay returns an empty guard.
func NewMemoryReplay() *MemoryReplay { return &MemoryReplay{uses: map[string]replayEntry{}} }

// Use implements ReplayGuard.
func (m *MemoryReplay) Use(_ context.Context, id string, _, now time.Time, ttl time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(id, now, ttl)
	e.n++
	m.uses[id] = e
	return e.n, nil
}

// observe records that the shared count of id is n and returns the count to
// enforce: n, or one more than this replica's own count when that is higher
// (uses it counted alone while the shared state was down). m.mu is not held.
//
// The mirror holds at most maxMirrored tokens: one it does not hold is
// merely unknown during an outage (refused if issued before it), never
// counted from zero, so a full mirror costs availability, not safety.
func (m *MemoryReplay) observe(id string, n int64, now time.Time, ttl time.Duration) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(id, now, ttl)
	if e.n >= n {
		n = e.n + 1
	}
	e.n = n
	if _, held := m.uses[id]; held || len(m.uses) < maxMirrored {
		m.uses[id] = e
	}
	return n
}

// maxMirrored bounds the token counts a replica mirrors from the shared
// state (and so the cost of a sweep).
const maxMirrored = 1 << 16

// seen reports whether id has a live count here. m.mu is not held.
func (m *MemoryReplay) seen(id string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.uses[id]
	return ok && now.Before(e.expires)
}

// entry returns id's live entry or a fresh one, sweeping expired entries
// now and then. m.mu is held.
func (m *MemoryReplay) entry(id string, now time.Time, ttl time.Duration) replayEntry {
	m.calls++
	if m.calls%sweepEvery == 0 {
		for k, e := range m.uses {
			if !now.Before(e.expires) {
				delete(m.uses, k)
			}
		}
	}
	e, ok := m.uses[id]
	if !ok || !now.Before(e.expires) {
		e = replayEntry{expires: now.Add(ttl)}
	}
	return e
}
