package license

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// Cache is the read-through license cache. Implementations never fail a
// request: a broken backend behaves as a miss (and logs).
type Cache interface {
	// Get returns a stored answer.
	Get(ctx context.Context, key string) (Response, bool)
	// Set stores resp for ttl, indexed by tags for Purge.
	Set(ctx context.Context, key string, resp Response, tags Tags, ttl time.Duration)
	// Purge removes every entry whose tags match all non-empty fields of f
	// and returns how many it removed.
	Purge(ctx context.Context, f PurgeFilter) (int, error)
	// Shared reports a cache outside this process (Redis). ClearKey answers
	// hold clear content keys and are only kept in a process-local cache.
	Shared() bool
}

// Tags describe whom and what a cached answer was for.
type Tags struct {
	JTI, User, Device, Content string
}

// PurgeFilter selects entries for revocation hooks: an entry matches when
// every non-empty field equals its tag. At least one field must be set.
type PurgeFilter struct {
	JTI, User, Device, Content string
}

func (f PurgeFilter) empty() bool {
	return f.JTI == "" && f.User == "" && f.Device == "" && f.Content == ""
}

func (f PurgeFilter) matches(t Tags) bool {
	return (f.JTI == "" || f.JTI == t.JTI) && (f.User == "" || f.User == t.User) &&
		(f.Device == "" || f.Device == t.Device) && (f.Content == "" || f.Content == t.Content)
}

// index is the most selective index of a filter: the tag kind and value
// whose entry set contains every match.
func (f PurgeFilter) index() string {
	switch {
	case f.JTI != "":
		return indexName("jti", f.JTI)
	case f.Device != "":
		return indexName("device", f.Device)
	case f.User != "":
		return indexName("user", f.User)
	}
	return indexName("content", f.Content)
}

func (t Tags) indexes() []string {
	var out []string
	for _, p := range [][2]string{{"jti", t.JTI}, {"user", t.User}, {"device", t.Device}, {"content", t.Content}} {
		if p[1] != "" {
			out = append(out, indexName(p[0], p[1]))
		}
	}
	return out
}

func indexName(kind, v string) string { return kind + ":" + v }

// CacheKey is the cache key of a request: the token's jti and the SHA-256
// of the DRM name and the request body, so the same token asking the same
// thing again gets the same answer.
func CacheKey(jti string, system drm.System, body []byte) string {
	h := sha256.New()
	h.Write([]byte(system.String()))
	h.Write([]byte{0})
	h.Write(body)
	return jti + ":" + hex.EncodeToString(h.Sum(nil))
}
