package upstream

import (
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
	"github.com/drmpipe/drmpipe/internal/drm"
)

// Type is an adapter style; its names are the values of
// license.upstreams.<drm>.type.
type Type string

// Adapter types.
const (
	Generic        Type = "passthrough" // forward as is, adding credentials.headers / credentials.query
	Axinom         Type = "axinom"      // mint the X-AxDRM-Message entitlement JWT
	DRMtoday       Type = "drmtoday"    // castlabs: x-dt-custom-data / upfront auth token
	EZDRM          Type = "ezdrm"       // query parameters
	WidevineDirect Type = "widevine"    // Widevine direct: signed proxy request
)

// typeAliases are accepted spellings besides the names above.
var typeAliases = map[string]Type{"generic": Generic, "widevine-direct": WidevineDirect}

func (t Type) String() string { return string(t) }

// ParseType parses passthrough (or generic), axinom, drmtoday, ezdrm or
// widevine (or widevine-direct), in any case.
func ParseType(s string) (Type, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	if t, ok := typeAliases[n]; ok {
		return t, nil
	}
	switch t := Type(n); t {
	case Generic, Axinom, DRMtoday, EZDRM, WidevineDirect:
		return t, nil
	}
	return "", fmt.Errorf("%w: %q (want passthrough, axinom, drmtoday, ezdrm or widevine)", ErrUnknownType, s)
}

// UnmarshalText implements encoding.TextUnmarshaler: a known name or alias
// becomes its Type; an unknown one is kept as written for Validate to
// report with its key.
func (t *Type) UnmarshalText(b []byte) error {
	if v, err := ParseType(string(b)); err == nil {
		*t = v
		return nil
	}
	*t = Type(b)
	return nil
}

// BodyEncoding is how a FairPlay SPC is sent upstream (the request
// transforms of shaka-player's lib/drm/fairplay.js).
type BodyEncoding string

// SPC encodings.
const (
	// BodyRaw sends the SPC bytes, application/octet-stream (EZDRM style).
	// "" means BodyRaw.
	BodyRaw BodyEncoding = "raw"
	// BodyForm sends spc=<base64>, application/x-www-form-urlencoded.
	BodyForm BodyEncoding = "form"
	// BodyJSON sends {"spc":"<base64>"}, application/json.
	BodyJSON BodyEncoding = "json"
)

func (b BodyEncoding) String() string { return string(b) }

// UnmarshalText parses raw, form or json in any case; other values are
// kept for Validate to report.
func (b *BodyEncoding) UnmarshalText(t []byte) error {
	*b = BodyEncoding(strings.ToLower(strings.TrimSpace(string(t))))
	return nil
}

// Config is one upstream license server and its resilience policy: the
// value of license.upstreams.<drm> in the configuration file. Zero values
// take the defaults named on each field (withDefaults).
type Config struct {
	// Type is the adapter. Required.
	Type Type `koanf:"type" yaml:"type"`
	// URL is the license acquisition URL. Required.
	URL string `koanf:"url" yaml:"url"`
	// SecondaryURL is tried when the primary is unavailable: the same
	// adapter and credentials at another URL (another region). Secondary
	// is the long form.
	SecondaryURL string `koanf:"secondary_url" yaml:"secondary_url"`
	// CertificateURL is where GET /license/fairplay/certificate is fetched
	// when CertificateFile is empty (FairPlay).
	CertificateURL string `koanf:"certificate_url" yaml:"certificate_url"`
	// CertificateFile is the FairPlay application certificate (DER or PEM)
	// served at GET /license/fairplay/certificate (FairPlay).
	CertificateFile string `koanf:"certificate_file" yaml:"certificate_file"`
	// CertificateTTL is how long a certificate fetched from CertificateURL
	// is kept (FairPlay); 0 = DefaultCertificateTTL.
	CertificateTTL time.Duration `koanf:"certificate_ttl" yaml:"certificate_ttl"`
	// FairPlayBody is the SPC encoding of passthrough upstreams: raw, form
	// or json; "" = raw (vendor adapters use their vendor's).
	FairPlayBody BodyEncoding `koanf:"fairplay_body" yaml:"fairplay_body"`
	// Timeout bounds one attempt; 0 = DefaultTimeout.
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	// Retries is how many times a failed attempt is retried where a retry
	// is safe (see RetryConfig); 0 = none.
	Retries int `koanf:"retries" yaml:"retries"`
	// Retry is the backoff between retries.
	Retry RetryConfig `koanf:"retry" yaml:"retry"`
	// MaxResponseBytes bounds the answer; 0 = 1 MiB.
	MaxResponseBytes int64         `koanf:"max_response_bytes" yaml:"max_response_bytes"`
	Breaker          BreakerConfig `koanf:"breaker" yaml:"breaker"`
	// Credentials authenticate drmpipe to the vendor.
	Credentials Credentials `koanf:"credentials" yaml:"credentials"`
	// Axinom and DRMtoday hold the options of those adapters that are not
	// credentials.
	Axinom   AxinomConfig   `koanf:"axinom" yaml:"axinom"`
	DRMtoday DRMtodayConfig `koanf:"drmtoday" yaml:"drmtoday"`

	// Secondary, when set, is tried when this upstream is unavailable
	// (open breaker, timeout, 5xx, connection failure), never after a 4xx.
	// Unlike SecondaryURL it may use another adapter and credentials; it
	// cannot have its own secondary.
	Secondary *Config `koanf:"secondary" yaml:"secondary,omitempty"`
}

// Credentials hold what each adapter needs; unused fields stay empty.
// Key, IV, Password, Token and the values of Headers and Query are
// secrets (masked when the configuration is printed).
type Credentials struct {
	// Provider is the Widevine provider name, the DRMtoday merchant or the
	// EZDRM profile (pX) value.
	Provider string `koanf:"provider" yaml:"provider"`
	// KeyID is the Axinom communication key ID (a UUID).
	KeyID string `koanf:"key_id" yaml:"key_id"`
	// Key is the Axinom communication key (base64, as Axinom issues it) or
	// the Widevine signing key (hex, 32 bytes).
	Key string `koanf:"key" yaml:"key" secret:"true"`
	// IV is the Widevine signing IV (hex, 16 bytes).
	IV string `koanf:"iv" yaml:"iv" secret:"true"`
	// Username and Password are basic credentials; no adapter sends them
	// yet.
	Username string `koanf:"username" yaml:"username"`
	Password string `koanf:"password" yaml:"password" secret:"true"`
	// Token is the DRMtoday upfront-token secret (HS512, its bytes as
	// configured) or an API token.
	Token string `koanf:"token" yaml:"token" secret:"true"`
	// Headers are added to every upstream request (the vendor adapters add
	// theirs on top).
	Headers map[string]string `koanf:"headers" yaml:"headers" secret:"values"`
	// Query parameters are added to every upstream URL.
	Query map[string]string `koanf:"query" yaml:"query" secret:"values"`
}

// RetryConfig: retries happen only when the request cannot have been
// processed or the upstream says so before answering anything (connection
// refused, 502, 503, 504); never on 4xx, other 5xx or timeouts. Their
// number is Config.Retries.
type RetryConfig struct {
	// Backoff is the first delay, doubled up to MaxBackoff; 0 = 50 ms /
	// max(1 s, Backoff).
	Backoff    time.Duration `koanf:"backoff" yaml:"backoff"`
	MaxBackoff time.Duration `koanf:"max_backoff" yaml:"max_backoff"`
	// Jitter is the random fraction added or removed; 0 = 0.25.
	Jitter float64 `koanf:"jitter" yaml:"jitter"`
}

// BreakerConfig is the circuit breaker in front of each upstream URL. It
// opens after FailureThreshold consecutive failures or, when FailureRatio
// is set instead, when FailureRatio of at least MinRequests attempts
// within Window failed (5xx, timeout, transport error; not 4xx). It stays
// open OpenFor, then lets probes through and closes after
// SuccessThreshold successes.
type BreakerConfig struct {
	// FailureThreshold is the consecutive failures that open the breaker;
	// 0 = 5 unless FailureRatio is set.
	FailureThreshold uint `koanf:"failure_threshold" yaml:"failure_threshold"`
	// FailureRatio (0..1], MinRequests (0 = 10) and Window (0 = 30 s) are
	// the failure-rate rule, used instead of FailureThreshold when set.
	FailureRatio float64       `koanf:"failure_ratio" yaml:"failure_ratio"`
	MinRequests  uint          `koanf:"min_requests" yaml:"min_requests"`
	Window       time.Duration `koanf:"window" yaml:"window"`
	// OpenFor is how long the breaker stays open; 0 = 30 s.
	OpenFor time.Duration `koanf:"open_for" yaml:"open_for"`
	// SuccessThreshold is the successful probes that close it; 0 = 2.
	SuccessThreshold uint `koanf:"success_threshold" yaml:"success_threshold"`
}

// AxinomConfig holds the Axinom options besides the communication key
// (Axinom DRM documentation, "License Service Message").
type AxinomConfig struct {
	// MessageTTL is the entitlement message's validity; 0 = 1 minute.
	MessageTTL time.Duration `koanf:"message_ttl" yaml:"message_ttl"`
}

// DRMtodayMode selects how DRMtoday learns about the viewer.
type DRMtodayMode string

// DRMtoday modes (castlabs DRMtoday: callback authorization with custom
// data, or an upfront authorization token).
const (
	DRMtodayModeCustomData DRMtodayMode = "customdata" // x-dt-custom-data header
	DRMtodayModeToken      DRMtodayMode = "token"      // x-dt-auth-token upfront JWT signed with credentials.token
)

// DRMtodayConfig holds the DRMtoday options besides the merchant
// (credentials.provider) and token secret (credentials.token).
type DRMtodayConfig struct {
	Mode DRMtodayMode `koanf:"mode" yaml:"mode"` // "" = customdata
}

// Defaults of the zero values of Config.
const (
	DefaultTimeout          = 2 * time.Second
	DefaultFailureThreshold = 5
	DefaultSuccessThreshold = 2
	DefaultOpenFor          = 30 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultRetryBackoff     = 50 * time.Millisecond
	DefaultRetryJitter      = 0.25
	DefaultFailureRatioMin  = 10
	DefaultFailureWindow    = 30 * time.Second
	DefaultAxinomMessageTTL = time.Minute
	DefaultCertificateTTL   = time.Hour
)

// DefaultConfig is what the zero values of an upstream resolve to (Type
// and URL stay empty: they are required).
func DefaultConfig() Config { return Config{}.WithDefaults() }

// WithDefaults returns c with its zero values filled (not its secondary's,
// which New fills when it builds it).
func (c Config) WithDefaults() Config {
	c.withDefaults()
	return c
}

// withDefaults fills the zero values; it does not touch the secondary.
func (c *Config) withDefaults() {
	if t, err := ParseType(string(c.Type)); err == nil {
		c.Type = t
	}
	c.FairPlayBody = cmp.Or(c.FairPlayBody, BodyRaw)
	c.Timeout = confcheck.PositiveOr(c.Timeout, DefaultTimeout)
	c.MaxResponseBytes = confcheck.PositiveOr(c.MaxResponseBytes, DefaultMaxResponseBytes)
	r := &c.Retry
	r.Backoff = confcheck.PositiveOr(r.Backoff, DefaultRetryBackoff)
	if r.MaxBackoff < r.Backoff {
		r.MaxBackoff = max(time.Second, r.Backoff)
	}
	r.Jitter = cmp.Or(r.Jitter, DefaultRetryJitter)
	b := &c.Breaker
	if b.FailureRatio == 0 {
		b.FailureThreshold = cmp.Or(b.FailureThreshold, DefaultFailureThreshold)
	} else {
		b.MinRequests = cmp.Or(b.MinRequests, DefaultFailureRatioMin)
		b.Window = confcheck.PositiveOr(b.Window, DefaultFailureWindow)
	}
	b.OpenFor = confcheck.PositiveOr(b.OpenFor, DefaultOpenFor)
	b.SuccessThreshold = cmp.Or(b.SuccessThreshold, DefaultSuccessThreshold)
	if c.Type == DRMtoday && c.DRMtoday.Mode == "" {
		c.DRMtoday.Mode = DRMtodayModeCustomData
	}
	if c.Type == Axinom && c.Axinom.MessageTTL <= 0 {
		c.Axinom.MessageTTL = DefaultAxinomMessageTTL
	}
}

// secondary is the failover upstream: Secondary, or this one at
// SecondaryURL; nil when neither is set.
func (c Config) secondary() *Config {
	if c.Secondary != nil {
		return c.Secondary
	}
	if c.SecondaryURL == "" {
		return nil
	}
	sec := c
	sec.URL, sec.SecondaryURL, sec.Secondary = c.SecondaryURL, "", nil
	return &sec
}

// Validate checks c (after defaults) and its secondary, reporting each
// problem under prefix + "." + its key (prefix is the upstream's own key,
// e.g. "license.upstreams.widevine"). Plain http is accepted for loopback
// URLs only. The errors wrap ErrConfig (ErrUnknownType for the type).
func (c Config) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	c.validate(errs, prefix, true)
	return errs.Err()
}

// ValidateFor is Validate for the upstream of system: the widevine adapter
// serves Widevine only, and a FairPlay upstream needs the application
// certificate (certificate_file or certificate_url).
func (c Config) ValidateFor(system drm.System, prefix string) error {
	errs := confcheck.New(ErrConfig)
	c.validate(errs, prefix, true)
	if t, err := ParseType(string(c.Type)); err == nil && t == WidevineDirect && system != drm.Widevine {
		errs.Add(confcheck.Key(prefix, "type"), "the widevine adapter only serves the widevine DRM")
	}
	if system == drm.FairPlay && c.CertificateFile == "" && c.CertificateURL == "" {
		errs.Add(confcheck.Key(prefix, "certificate_file"), "is required for fairplay (the FPS application certificate served at /license/fairplay/certificate), or certificate_url")
	}
	return errs.Err()
}

func (c Config) validate(errs *confcheck.Errors, p string, primary bool) {
	key := func(k string) string { return confcheck.Key(p, k) }
	c.withDefaults()
	if _, err := ParseType(string(c.Type)); err != nil {
		errs.Add(key("type"), "%v", err)
	}
	if c.URL == "" && c.CertificateURL == "" {
		errs.Add(key("url"), "is required")
	}
	for _, u := range []struct{ k, v string }{{"url", c.URL}, {"secondary_url", c.SecondaryURL}, {"certificate_url", c.CertificateURL}} {
		if u.v != "" {
			errs.URL(key(u.k), u.v, false)
		}
	}
	switch c.FairPlayBody {
	case BodyRaw, BodyForm, BodyJSON:
	default:
		errs.Add(key("fairplay_body"), "%q (want raw, form or json)", c.FairPlayBody)
	}
	errs.Duration(key("timeout"), c.Timeout, 10*time.Millisecond, time.Minute)
	if c.Retries < 0 || c.Retries > 5 {
		errs.Add(key("retries"), "must be between 0 and 5 (got %d)", c.Retries)
	}
	if c.Retry.Jitter < 0 || c.Retry.Jitter >= 1 {
		errs.Add(key("retry.jitter"), "must be in [0,1) (got %v)", c.Retry.Jitter)
	}
	b := c.Breaker
	if b.FailureRatio < 0 || b.FailureRatio > 1 {
		errs.Add(key("breaker.failure_ratio"), "must be in [0,1] (got %v)", b.FailureRatio)
	}
	if b.FailureRatio > 0 && b.FailureThreshold > 0 {
		errs.Add(key("breaker"), "set failure_threshold (consecutive failures) or failure_ratio (failure rate), not both")
	}
	errs.Duration(key("breaker.open_for"), b.OpenFor, 10*time.Millisecond, time.Hour)
	cr := c.Credentials
	switch c.Type {
	case Axinom:
		if cr.KeyID == "" || cr.Key == "" {
			errs.Add(key("credentials"), "axinom needs key_id and key (the communication key)")
			break
		}
		if _, err := parseUUID(cr.KeyID); err != nil {
			errs.Add(key("credentials.key_id"), "axinom communication key ID: %v", err)
		}
		if k, err := base64.StdEncoding.DecodeString(cr.Key); err != nil || len(k) == 0 {
			errs.Add(key("credentials.key"), "axinom communication key must be base64")
		}
	case DRMtoday:
		if cr.Provider == "" {
			errs.Add(key("credentials.provider"), "drmtoday needs the merchant as provider")
		}
		switch c.DRMtoday.Mode {
		case DRMtodayModeCustomData:
		case DRMtodayModeToken:
			if cr.Token == "" {
				errs.Add(key("credentials.token"), "drmtoday token mode needs the token secret")
			}
		default:
			errs.Add(key("drmtoday.mode"), "%q (want customdata or token)", c.DRMtoday.Mode)
		}
	case EZDRM:
		if cr.Provider == "" && !hasKeyFold(cr.Query, EZDRMProfileParam) {
			errs.Add(key("credentials.provider"), "ezdrm needs the profile (pX) as provider (or credentials.query.pX)")
		}
	case Generic: // credentials as configured, nothing adapter-specific
	case WidevineDirect:
		if cr.Provider == "" {
			errs.Add(key("credentials.provider"), "widevine needs the provider name")
		}
		if k, err := hex.DecodeString(cr.Key); err != nil || len(k) != 32 {
			errs.Add(key("credentials.key"), "widevine signing key must be 64 hex digits (32 bytes)")
		}
		if iv, err := hex.DecodeString(cr.IV); err != nil || len(iv) != 16 {
			errs.Add(key("credentials.iv"), "widevine signing IV must be 32 hex digits (16 bytes)")
		}
	}
	if c.Secondary != nil {
		switch {
		case !primary:
			errs.Add(key("secondary"), "a secondary upstream cannot have its own secondary")
		case c.SecondaryURL != "":
			errs.Add(key("secondary"), "set secondary_url or secondary, not both")
		default:
			c.Secondary.validate(errs, key("secondary"), false)
		}
	}
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

func hasKeyFold(m map[string]string, k string) bool {
	for n := range m {
		if strings.EqualFold(n, k) {
			return true
		}
	}
	return false
}
