package entitlement

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// SubscriptionChecker reports whether a user's subscription covers a
// content ID. An error means "could not tell" (Authorize answers
// ReasonUnavailable, retryable), never a grant.
type SubscriptionChecker interface {
	Active(ctx context.Context, user, contentID string) (bool, error)
}

// StaticSubscriptions is a fixed answer: every user when AllowAll, else the
// users in Users.
type StaticSubscriptions struct {
	AllowAll bool
	Users    map[string]bool
}

// Active implements SubscriptionChecker.
func (s StaticSubscriptions) Active(_ context.Context, user, _ string) (bool, error) {
	return s.AllowAll || s.Users[user], nil
}

// CallbackConfig configures the operator's subscription callback.
//
// Protocol: GET URL?user=<sub>&content=<cid> (Method "GET", the default) or
// POST URL with body {"user": sub, "content": cid} (Method "POST"). The
// operator answers 200 with {"active": true|false}. Any other status, a
// malformed body or a timeout is an error, not a refusal.
type CallbackConfig struct {
	// URL is asked (https, or http to a loopback host); the configuration
	// file's policy.subscription.callback_url.
	URL string `koanf:"callback_url" yaml:"callback_url"`
	// Method is GET or POST (any case); "" = GET.
	Method string `koanf:"method" yaml:"method"`
	// Headers are added to every call (e.g. Authorization); their values
	// are secret.
	Headers map[string]string `koanf:"headers" yaml:"headers" secret:"values"`
	// Timeout bounds one call; 0 = DefaultCallbackTimeout. A timeout is
	// answered 503 unavailable, never a grant.
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	// TTL is how long an "active" answer is cached; NegativeTTL how long an
	// "inactive" one is (so a user who just subscribed is not kept out
	// long); 0 = DefaultCallbackTTL, DefaultCallbackNegativeTTL. Errors
	// are never cached.
	TTL         time.Duration `koanf:"ttl" yaml:"ttl"`
	NegativeTTL time.Duration `koanf:"negative_ttl" yaml:"negative_ttl"`
	// MaxEntries bounds the answer cache; 0 = DefaultCallbackMaxEntries.
	MaxEntries int `koanf:"max_entries" yaml:"max_entries"`
	// HTTPClient sends the calls (nil = a new client); Now is the clock
	// (nil = time.Now). Set by the program, not by the file.
	HTTPClient *http.Client     `koanf:"-" yaml:"-"`
	Now        func() time.Time `koanf:"-" yaml:"-"`
}

// Defaults of CallbackConfig.
const (
	DefaultCallbackTimeout     = 2 * time.Second
	DefaultCallbackTTL         = 60 * time.Second
	DefaultCallbackNegativeTTL = 10 * time.Second
	DefaultCallbackMaxEntries  = 100000
)

// withDefaults fills the zero values.
func (c *CallbackConfig) withDefaults() {
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	c.Method = strings.ToUpper(c.Method)
	c.Timeout = confcheck.PositiveOr(c.Timeout, DefaultCallbackTimeout)
	c.TTL = confcheck.PositiveOr(c.TTL, DefaultCallbackTTL)
	c.NegativeTTL = confcheck.PositiveOr(c.NegativeTTL, DefaultCallbackNegativeTTL)
	c.MaxEntries = confcheck.PositiveOr(c.MaxEntries, DefaultCallbackMaxEntries)
}

// CallbackSubscriptions asks the operator's callback URL and caches answers.
type CallbackSubscriptions struct {
	cfg   CallbackConfig
	mu    sync.Mutex
	cache map[subKey]subEntry
}

type subKey struct{ user, content string }

type subEntry struct {
	active  bool
	expires time.Time
}

// NewCallbackSubscriptions checks cfg and returns the checker.
func NewCallbackSubscriptions(cfg CallbackConfig) (*CallbackSubscriptions, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: subscription callback URL must be an absolute http(s) URL", ErrConfig)
	}
	cfg.withDefaults()
	switch cfg.Method {
	case http.MethodGet, http.MethodPost:
	default:
		return nil, fmt.Errorf("%w: subscription callback method %q (want GET or POST)", ErrConfig, cfg.Method)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &CallbackSubscriptions{cfg: cfg, cache: map[subKey]subEntry{}}, nil
}

// Active implements SubscriptionChecker.
func (s *CallbackSubscriptions) Active(ctx context.Context, user, contentID string) (bool, error) {
	k := subKey{user, contentID}
	now := s.cfg.Now()
	s.mu.Lock()
	e, ok := s.cache[k]
	s.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.active, nil
	}
	active, err := s.call(ctx, user, contentID)
	if err != nil {
		return false, err
	}
	ttl := s.cfg.TTL
	if !active {
		ttl = s.cfg.NegativeTTL
	}
	s.mu.Lock()
	if len(s.cache) >= s.cfg.MaxEntries {
		s.evictLocked(now)
	}
	s.cache[k] = subEntry{active: active, expires: now.Add(ttl)}
	s.mu.Unlock()
	return active, nil
}

// evictLocked drops expired entries, and everything if that was not enough.
func (s *CallbackSubscriptions) evictLocked(now time.Time) {
	for k, e := range s.cache {
		if !now.Before(e.expires) {
			delete(s.cache, k)
		}
	}
	if len(s.cache) >= s.cfg.MaxEntries {
		clear(s.cache)
	}
}

func (s *CallbackSubscriptions) call(ctx context.Context, user, contentID string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var req *http.Request
	var err error
	if s.cfg.Method == http.MethodPost {
		body, _ := json.Marshal(struct {
			User    string `json:"user"`
			Content string `json:"content"`
		}{user, contentID})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		u, _ := url.Parse(s.cfg.URL)
		q := u.Query()
		q.Set("user", user)
		q.Set("content", contentID)
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrSubscriptionCallback, err)
	}
	for name, v := range s.cfg.Headers {
		req.Header.Set(name, v)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrSubscriptionCallback, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return false, fmt.Errorf("%w: HTTP status %d", ErrSubscriptionCallback, resp.StatusCode)
	}
	var out struct {
		Active *bool `json:"active"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil || out.Active == nil {
		return false, fmt.Errorf("%w: response is not {\"active\": bool}", ErrSubscriptionCallback)
	}
	return *out.Active, nil
}
