package upstream

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Type is an adapter style.
type Type uint8

// Adapter types.
const (
	Generic Type = iota + 1
	Axinom
	DRMtoday
	EZDRM
	WidevineDirect
)

var typeNames = map[Type]string{Generic: "generic", Axinom: "axinom", DRMtoday: "drmtoday", EZDRM: "ezdrm", WidevineDirect: "widevine-direct"}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// ParseType parses generic, axinom, drmtoday, ezdrm or widevine-direct.
func ParseType(s string) (Type, error) {
	for t, n := range typeNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want generic, axinom, drmtoday, ezdrm or widevine-direct)", ErrUnknownType, s)
}

// MarshalText implements encoding.TextMarshaler.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// BodyEncoding is how a FairPlay SPC is sent upstream (the request
// transforms of shaka-player's lib/drm/fairplay.js).
type BodyEncoding uint8

// SPC encodings.
const (
	// BodyRaw sends the SPC bytes, application/octet-stream (EZDRM style).
	BodyRaw BodyEncoding = iota
	// BodyForm sends spc=<base64>, application/x-www-form-urlencoded.
	BodyForm
	// BodyJSON sends {"spc":"<base64>"}, application/json.
	BodyJSON
)

var bodyNames = map[BodyEncoding]string{BodyRaw: "raw", BodyForm: "form", BodyJSON: "json"}

func (b BodyEncoding) String() string {
	if n, ok := bodyNames[b]; ok {
		return n
	}
	return fmt.Sprintf("BodyEncoding(%d)", uint8(b))
}

// UnmarshalText parses raw, form or json.
func (b *BodyEncoding) UnmarshalText(t []byte) error {
	for k, n := range bodyNames {
		if strings.EqualFold(string(t), n) {
			*b = k
			return nil
		}
	}
	return fmt.Errorf("%w: fairPlayBody %q (want raw, form or json)", ErrConfig, t)
}

// Config is one upstream license server and its resilience policy.
type Config struct {
	Type Type `yaml:"type" json:"type"`
	// URL is the license acquisition URL.
	URL string `yaml:"url" json:"url"`
	// CertificateURL is where GET /license/fairplay/certificate is fetched.
	CertificateURL string `yaml:"certificateURL" json:"certificateURL"`
	// Headers and Query are added to every request (generic pass-through;
	// the vendor adapters add theirs on top).
	Headers map[string]string `yaml:"headers" json:"headers"`
	Query   map[string]string `yaml:"query" json:"query"`
	// FairPlayBody is the SPC encoding for generic upstreams (vendor
	// adapters use their vendor's).
	FairPlayBody BodyEncoding `yaml:"fairPlayBody" json:"fairPlayBody"`
	// Timeout bounds one attempt; 0 = 5 s.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// MaxResponseBytes bounds the answer; 0 = 1 MiB.
	MaxResponseBytes int64         `yaml:"maxResponseBytes" json:"maxResponseBytes"`
	Retry            RetryConfig   `yaml:"retry" json:"retry"`
	Breaker          BreakerConfig `yaml:"breaker" json:"breaker"`

	Axinom         AxinomConfig         `yaml:"axinom" json:"axinom"`
	DRMtoday       DRMtodayConfig       `yaml:"drmtoday" json:"drmtoday"`
	EZDRM          EZDRMConfig          `yaml:"ezdrm" json:"ezdrm"`
	WidevineDirect WidevineDirectConfig `yaml:"widevineDirect" json:"widevineDirect"`

	// Secondary, when set, is tried when this upstream is unavailable
	// (open breaker, timeout, 5xx, connection failure), never after a 4xx.
	Secondary *Config `yaml:"secondary" json:"secondary"`
}

// RetryConfig: retries happen only when the request cannot have been
// processed or the upstream says so before answering anything (connection
// refused, 502, 503, 504); never on 4xx, other 5xx or timeouts.
type RetryConfig struct {
	// MaxRetries after the first attempt; 0 = 2, negative = none.
	MaxRetries int `yaml:"maxRetries" json:"maxRetries"`
	// Backoff is the first delay, doubled up to MaxBackoff; 0 = 50 ms / 1 s.
	Backoff    time.Duration `yaml:"backoff" json:"backoff"`
	MaxBackoff time.Duration `yaml:"maxBackoff" json:"maxBackoff"`
	// Jitter is the random fraction added or removed; 0 = 0.25.
	Jitter float64 `yaml:"jitter" json:"jitter"`
}

// BreakerConfig: the breaker opens when FailureRatio of at least
// MinRequests attempts within Window failed (5xx, timeout, transport error;
// not 4xx), stays open OpenFor, then lets HalfOpenProbes through.
type BreakerConfig struct {
	// ConsecutiveFailures, when set, opens the breaker after that many
	// failures in a row instead of the failure-rate rule below.
	ConsecutiveFailures uint          `yaml:"consecutiveFailures" json:"consecutiveFailures"`
	FailureRatio        float64       `yaml:"failureRatio" json:"failureRatio"`     // 0 = 0.5
	MinRequests         uint          `yaml:"minRequests" json:"minRequests"`       // 0 = 10
	Window              time.Duration `yaml:"window" json:"window"`                 // 0 = 30 s
	OpenFor             time.Duration `yaml:"openFor" json:"openFor"`               // 0 = 15 s
	HalfOpenProbes      uint          `yaml:"halfOpenProbes" json:"halfOpenProbes"` // 0 = 1
}

// AxinomConfig holds the Axinom DRM communication key (Axinom DRM
// documentation, "License Service Message").
type AxinomConfig struct {
	// ComKeyID is the communication key ID (a UUID).
	ComKeyID string `yaml:"comKeyID" json:"comKeyID"`
	// ComKey is the communication key, base64 as Axinom issues it; it is
	// decoded before use as the HMAC-SHA256 key.
	ComKey string `yaml:"comKey" json:"comKey"`
	// MessageTTL is the entitlement message's validity; 0 = 1 minute.
	MessageTTL time.Duration `yaml:"messageTTL" json:"messageTTL"`
}

// DRMtodayMode selects how DRMtoday learns about the viewer.
type DRMtodayMode string

// DRMtoday modes (castlabs DRMtoday: callback authorization with custom
// data, or an upfront authorization token).
const (
	DRMtodayModeCustomData DRMtodayMode = "customdata" // x-dt-custom-data header
	DRMtodayModeToken      DRMtodayMode = "token"      // x-dt-auth-token upfront JWT
)

// DRMtodayConfig configures castlabs DRMtoday.
type DRMtodayConfig struct {
	Merchant string       `yaml:"merchant" json:"merchant"`
	Mode     DRMtodayMode `yaml:"mode" json:"mode"` // "" = customdata
	// TokenSecret is the shared HS512 secret for upfront tokens (its bytes
	// as configured; how DRMtoday encodes it in its dashboard is uncertain).
	TokenSecret string `yaml:"tokenSecret" json:"tokenSecret"`
}

// EZDRMConfig configures EZDRM.
type EZDRMConfig struct {
	// ProfileParam is the pX value of the account's license URL.
	ProfileParam string `yaml:"pX" json:"pX"`
}

// WidevineDirectConfig configures a signed Widevine license proxy request
// (signed as Shaka Packager's request_signer.cc signs key requests).
type WidevineDirectConfig struct {
	Provider   string `yaml:"provider" json:"provider"`
	SigningKey string `yaml:"signingKey" json:"signingKey"` // 32 bytes, hex
	SigningIV  string `yaml:"signingIV" json:"signingIV"`   // 16 bytes, hex
}

func (c *Config) withDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 1 << 20
	}
	r := &c.Retry
	if r.MaxRetries == 0 {
		r.MaxRetries = 2
	}
	if r.Backoff <= 0 {
		r.Backoff = 50 * time.Millisecond
	}
	if r.MaxBackoff < r.Backoff {
		r.MaxBackoff = max(time.Second, r.Backoff)
	}
	if r.Jitter == 0 {
		r.Jitter = 0.25
	}
	b := &c.Breaker
	if b.FailureRatio == 0 {
		b.FailureRatio = 0.5
	}
	if b.MinRequests == 0 {
		b.MinRequests = 10
	}
	if b.Window <= 0 {
		b.Window = 30 * time.Second
	}
	if b.OpenFor <= 0 {
		b.OpenFor = 15 * time.Second
	}
	if b.HalfOpenProbes == 0 {
		b.HalfOpenProbes = 1
	}
	if c.DRMtoday.Mode == "" {
		c.DRMtoday.Mode = DRMtodayModeCustomData
	}
	if c.Axinom.MessageTTL <= 0 {
		c.Axinom.MessageTTL = time.Minute
	}
}

// Validate checks c (after defaults) and its secondary.
func (c Config) Validate() error {
	c.withDefaults()
	if _, ok := typeNames[c.Type]; !ok {
		return fmt.Errorf("%w: type %v", ErrUnknownType, c.Type)
	}
	if c.URL == "" && c.CertificateURL == "" {
		return fmt.Errorf("%w: %s upstream without url", ErrConfig, c.Type)
	}
	for _, u := range []string{c.URL, c.CertificateURL} {
		if u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return fmt.Errorf("%w: %q is not an http(s) URL", ErrConfig, u)
		}
	}
	if c.Breaker.FailureRatio < 0 || c.Breaker.FailureRatio > 1 {
		return fmt.Errorf("%w: breaker failureRatio %v not in [0,1]", ErrConfig, c.Breaker.FailureRatio)
	}
	if c.Retry.Jitter < 0 || c.Retry.Jitter >= 1 {
		return fmt.Errorf("%w: retry jitter %v not in [0,1)", ErrConfig, c.Retry.Jitter)
	}
	switch c.Type {
	case Axinom:
		if _, err := parseUUID(c.Axinom.ComKeyID); err != nil {
			return fmt.Errorf("%w: axinom comKeyID: %v", ErrConfig, err)
		}
		if k, err := base64.StdEncoding.DecodeString(c.Axinom.ComKey); err != nil || len(k) == 0 {
			return fmt.Errorf("%w: axinom comKey must be base64", ErrConfig)
		}
	case DRMtoday:
		if c.DRMtoday.Merchant == "" {
			return fmt.Errorf("%w: drmtoday merchant required", ErrConfig)
		}
		switch c.DRMtoday.Mode {
		case DRMtodayModeCustomData:
		case DRMtodayModeToken:
			if c.DRMtoday.TokenSecret == "" {
				return fmt.Errorf("%w: drmtoday token mode needs tokenSecret", ErrConfig)
			}
		default:
			return fmt.Errorf("%w: drmtoday mode %q (want customdata or token)", ErrConfig, c.DRMtoday.Mode)
		}
	case EZDRM:
		if c.EZDRM.ProfileParam == "" {
			return fmt.Errorf("%w: ezdrm pX required", ErrConfig)
		}
	case WidevineDirect:
		w := c.WidevineDirect
		if k, err := hex.DecodeString(w.SigningKey); err != nil || len(k) != 32 {
			return fmt.Errorf("%w: widevineDirect signingKey must be 32 bytes hex", ErrConfig)
		}
		if iv, err := hex.DecodeString(w.SigningIV); err != nil || len(iv) != 16 {
			return fmt.Errorf("%w: widevineDirect signingIV must be 16 bytes hex", ErrConfig)
		}
		if w.Provider == "" {
			return fmt.Errorf("%w: widevineDirect provider required", ErrConfig)
		}
	}
	if c.Secondary != nil {
		if c.Secondary.Secondary != nil {
			return fmt.Errorf("%w: a secondary upstream cannot have its own secondary", ErrConfig)
		}
		if err := c.Secondary.Validate(); err != nil {
			return fmt.Errorf("secondary: %w", err)
		}
	}
	return nil
}

func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	h := strings.ReplaceAll(s, "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 || (len(s) != 32 && len(s) != 36) {
		return u, fmt.Errorf("%q is not a UUID", s)
	}
	copy(u[:], b)
	return u, nil
}
