package entitlement

import (
	"crypto/sha256"
	"slices"
	"sync"
	"time"
)

// DefaultVerifiedCacheEntries bounds the verified-token cache of a Verifier.
// At the default 30 s token lifetime it covers about 2,000 new tokens per
// second; beyond that new tokens are verified in full and not remembered.
const DefaultVerifiedCacheEntries = 65536

// verifiedCache remembers tokens whose signature and claims were verified,
// keyed by the SHA-256 of the exact token bytes, until the token expires
// (exp + clock skew, the last instant Verify would accept it). A player
// retrying a license request, or asking for licenses of several sessions
// with one token, then costs a hash instead of an ES256/RS256/EdDSA
// verification.
//
// Only byte-identical tokens hit: any change to header, payload or signature
// changes the hash. What it skips is exactly what cannot change for the
// same bytes within the token's lifetime (signature, iss, aud, iat, nbf,
// claim parsing); exp is re-checked on every hit, and everything the
// entitlement service checks after Verify (revocations, replay count,
// device limit, policy) still runs on every request. One consequence: a
// verification key removed from the key set keeps accepting tokens it
// signed earlier until they expire (at most tokens.max_lifetime).
type verifiedCache struct {
	mu  sync.Mutex
	max int
	m   map[[sha256.Size]byte]verifiedEntry
	// soonest is the earliest until of the entries: while it lies ahead, a
	// full cache has nothing to drop and put returns at once (no sweep per
	// request under a flood of distinct tokens).
	soonest time.Time
	// swept is when expired entries were last dropped: at most once per
	// sweepInterval, so memory follows the live tokens instead of growing
	// with expired ones until the cache is full.
	swept time.Time
}

// sweepInterval is how often put drops expired entries once one expired.
const sweepInterval = time.Second

type verifiedEntry struct {
	claims *Claims
	until  time.Time // exp + skew; the entry is dead from this instant on
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{max: max, m: make(map[[sha256.Size]byte]verifiedEntry)}
}

// get returns a copy of the claims of a verified, unexpired token.
func (c *verifiedCache) get(sum [sha256.Size]byte, now time.Time) (*Claims, bool) {
	c.mu.Lock()
	e, ok := c.m[sum]
	if ok && !now.Before(e.until) {
		delete(c.m, sum)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	return cloneClaims(e.claims), true
}

// put remembers a verified token. When the cache is full it first drops
// expired entries; if it is still full the token is not remembered (the
// cache never grows past max and never evicts a live entry).
func (c *verifiedCache) put(sum [sha256.Size]byte, claims *Claims, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	full := len(c.m) >= c.max
	if !now.Before(c.soonest) && (full || now.Sub(c.swept) >= sweepInterval) {
		c.sweep(now)
	}
	if len(c.m) >= c.max {
		return
	}
	if len(c.m) == 0 || until.Before(c.soonest) {
		c.soonest = until
	}
	c.m[sum] = verifiedEntry{claims: cloneClaims(claims), until: until}
}

// sweep drops the expired entries and recomputes soonest. c.mu is held.
func (c *verifiedCache) sweep(now time.Time) {
	c.swept = now
	c.soonest = time.Time{}
	for k, e := range c.m {
		if !now.Before(e.until) {
			delete(c.m, k)
		} else if c.soonest.IsZero() || e.until.Before(c.soonest) {
			c.soonest = e.until
		}
	}
}

// len is the number of entries (tests).
func (c *verifiedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// cloneClaims copies c so that callers can never change a cached entry.
func cloneClaims(c *Claims) *Claims {
	out := *c
	out.Audience = slices.Clone(c.Audience)
	out.KIDs = slices.Clone(c.KIDs)
	out.TrackTypes = slices.Clone(c.TrackTypes)
	if c.Policy != nil {
		p := *c.Policy
		p.Persistent = clonePtr(p.Persistent)
		p.HDCP = clonePtr(p.HDCP)
		p.SecurityLevel = clonePtr(p.SecurityLevel)
		out.Policy = &p
	}
	return &out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
