package entitlement

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// KeySource gives the Verifier its verification keys.
type KeySource interface {
	// Key returns the key named kid; kid is "" when the token header has
	// none. An unknown kid gives an error wrapping ErrUnknownKID.
	Key(ctx context.Context, kid string) (PublicKey, error)
}

// StaticKeys is a fixed key set.
type StaticKeys []PublicKey

// Key implements KeySource.
func (s StaticKeys) Key(_ context.Context, kid string) (PublicKey, error) {
	return lookupKey(s, kid)
}

// lookupKey finds kid in keys; a token without kid may use the only key of
// a one-key set, never guess among several.
func lookupKey(keys []PublicKey, kid string) (PublicKey, error) {
	if kid == "" {
		if len(keys) == 1 {
			return keys[0], nil
		}
		return PublicKey{}, fmt.Errorf("%w: token has no kid and the key set has %d keys", ErrUnknownKID, len(keys))
	}
	for _, k := range keys {
		if k.KID == kid {
			return k, nil
		}
	}
	return PublicKey{}, fmt.Errorf("%w: %q", ErrUnknownKID, kid)
}

// JWKSConfig says where the operator's verification keys come from.
type JWKSConfig struct {
	// File is a JWKS file path; URL a JWKS URL. Exactly one is set.
	File string
	URL  string
	// Timeout bounds one fetch. Default DefaultJWKSTimeout.
	Timeout time.Duration
	// RefreshInterval is how old the cached set may get before it is
	// refreshed in the background (the stale set keeps serving). Default
	// DefaultJWKSRefresh.
	RefreshInterval time.Duration
	// MinRefreshInterval rate-limits the synchronous refreshes triggered by
	// tokens with an unknown kid (key rotation), so forged kids cannot make
	// us hammer the JWKS endpoint. Default DefaultJWKSMinRefresh.
	MinRefreshInterval time.Duration
	// HTTPClient fetches URL; default a client without its own timeout
	// (Timeout applies per fetch).
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c *JWKSConfig) defaults() error {
	if (c.File == "") == (c.URL == "") {
		return fmt.Errorf("%w: JWKS needs exactly one of File and URL", ErrConfig)
	}
	c.Timeout = confcheck.PositiveOr(c.Timeout, DefaultJWKSTimeout)
	c.RefreshInterval = confcheck.PositiveOr(c.RefreshInterval, DefaultJWKSRefresh)
	c.MinRefreshInterval = confcheck.PositiveOr(c.MinRefreshInterval, DefaultJWKSMinRefresh)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// JWKSKeys is a KeySource backed by a JWKS file or URL, cached and
// refreshed: in the background every RefreshInterval, and synchronously
// (at most once per MinRefreshInterval) when a token names an unknown kid.
// A failed refresh keeps the last good set.
type JWKSKeys struct {
	cfg JWKSConfig

	mu          sync.RWMutex
	keys        []PublicKey
	fetchedAt   time.Time // last successful fetch
	lastAttempt time.Time // last fetch attempt, successful or not
	refreshing  bool      // a background refresh is running
	lastErr     error

	fetchMu sync.Mutex // serializes fetches
}

// NewJWKSKeys loads the key set once; it fails if that first load fails.
func NewJWKSKeys(ctx context.Context, cfg JWKSConfig) (*JWKSKeys, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &JWKSKeys{cfg: cfg}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Key implements KeySource.
func (s *JWKSKeys) Key(ctx context.Context, kid string) (PublicKey, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	keys := s.keys
	if now.Sub(s.fetchedAt) >= s.cfg.RefreshInterval && now.Sub(s.lastAttempt) >= s.cfg.MinRefreshInterval && !s.refreshing {
		s.refreshing = true
		go s.backgroundRefresh()
	}
	s.mu.Unlock()
	k, err := lookupKey(keys, kid)
	if err == nil || kid == "" {
		return k, err
	}
	// Unknown kid: the issuer may have rotated keys. Refresh now, rate-limited.
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	s.mu.RLock()
	keys, attempted := s.keys, s.lastAttempt
	s.mu.RUnlock()
	if k, err := lookupKey(keys, kid); err == nil {
		return k, nil // another request refreshed meanwhile
	}
	if s.cfg.Now().Sub(attempted) < s.cfg.MinRefreshInterval {
		return PublicKey{}, err
	}
	if rerr := s.fetchLocked(ctx); rerr != nil {
		return PublicKey{}, fmt.Errorf("%w (refresh failed: %w)", err, rerr)
	}
	s.mu.RLock()
	keys = s.keys
	s.mu.RUnlock()
	return lookupKey(keys, kid)
}

// Err returns the error of the last refresh attempt, nil if it succeeded.
func (s *JWKSKeys) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastErr
}

func (s *JWKSKeys) backgroundRefresh() {
	defer func() {
		s.mu.Lock()
		s.refreshing = false
		s.mu.Unlock()
	}()
	_ = s.refresh(context.Background())
}

func (s *JWKSKeys) refresh(ctx context.Context) error {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	return s.fetchLocked(ctx)
}

// fetchLocked fetches and installs the set; fetchMu is held.
func (s *JWKSKeys) fetchLocked(ctx context.Context) error {
	s.mu.Lock()
	s.lastAttempt = s.cfg.Now()
	s.mu.Unlock()
	keys, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err
	if err != nil {
		return err
	}
	s.keys, s.fetchedAt = keys, s.cfg.Now()
	return nil
}

func (s *JWKSKeys) fetch(ctx context.Context) ([]PublicKey, error) {
	var data []byte
	if s.cfg.File != "" {
		f, err := os.Open(s.cfg.File)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrJWKS, err)
		}
		defer f.Close()
		data, err = io.ReadAll(io.LimitReader(f, maxJWKSSize+1))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrJWKS, err)
		}
		return ParseJWKS(data)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJWKS, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch: %w", ErrJWKS, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetch: HTTP status %d", ErrJWKS, resp.StatusCode)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: fetch: %w", ErrJWKS, err)
	}
	return ParseJWKS(data)
}
