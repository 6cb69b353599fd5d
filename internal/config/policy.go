package config

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// PolicyConfig is the entitlement policy (package entitlement): the rule
// set every content gets, per-content overrides, the operator's
// subscription callback and the GeoIP database used by geography rules.
type PolicyConfig struct {
	// Default is the policy of every content without an override.
	Default ContentPolicyConfig `koanf:"default" yaml:"default"`
	// Content maps a content ID to the fields that differ from Default;
	// unset fields keep Default's value (a geo block replaces Default's
	// geo rule as a whole).
	Content map[string]*PolicyOverrideConfig `koanf:"content" yaml:"content"`
	// Subscription is the operator's subscription callback.
	Subscription SubscriptionConfig `koanf:"subscription" yaml:"subscription"`
	// GeoIPFile is a MaxMind GeoIP2/GeoLite2 Country (or City) database
	// (mmdb); required when any geo rule is set.
	GeoIPFile string `koanf:"geoip_file" yaml:"geoip_file"`
	// Revocations is how the revocation list follows the durable log.
	Revocations entitlement.RevocationSyncConfig `koanf:"revocations" yaml:"revocations"`
}

// GeoConfig is a country rule (ISO 3166-1 alpha-2 codes).
type GeoConfig struct {
	// Allow, when not empty, is the only set of countries served.
	Allow []string `koanf:"allow" yaml:"allow"`
	// Deny lists refused countries; it wins over Allow.
	Deny []string `koanf:"deny" yaml:"deny"`
	// AllowUnknown serves clients whose country is not in the database
	// (private addresses, unlisted ranges). Off by default.
	AllowUnknown bool `koanf:"allow_unknown" yaml:"allow_unknown"`
}

// ContentPolicyConfig is the complete rule set of one content
// (entitlement.ContentPolicy).
type ContentPolicyConfig struct {
	// RequireSubscription asks policy.subscription.callback_url whether the
	// user's subscription is active.
	RequireSubscription bool      `koanf:"require_subscription" yaml:"require_subscription"`
	Geo                 GeoConfig `koanf:"geo" yaml:"geo"`
	// MaxDevices is the number of distinct devices (token did) a user may
	// get licenses for within DeviceWindow; 0 = no limit.
	MaxDevices   int           `koanf:"max_devices" yaml:"max_devices"`
	DeviceWindow time.Duration `koanf:"device_window" yaml:"device_window"`
	// MaxUses is how many license requests one token (jti) may make; -1 =
	// unlimited.
	MaxUses int `koanf:"max_uses" yaml:"max_uses"`
	// AllowPersistent allows persistent (offline) licenses. Off by default.
	AllowPersistent bool `koanf:"allow_persistent" yaml:"allow_persistent"`
	// LicenseDuration is how long an issued license is valid.
	LicenseDuration time.Duration `koanf:"license_duration" yaml:"license_duration"`
	// RentalWindow is how long a persistent license may be started; 0 =
	// same as LicenseDuration.
	RentalWindow time.Duration `koanf:"rental_window" yaml:"rental_window"`
	// PlaybackDuration is how long playback may last once started; 0 =
	// unlimited within LicenseDuration.
	PlaybackDuration time.Duration `koanf:"playback_duration" yaml:"playback_duration"`
	// HDCP is the required output protection: none, HDCP_V1, HDCP_V2,
	// HDCP_V2_2 or HDCP_V2_3.
	HDCP string `koanf:"hdcp" yaml:"hdcp"`
	// SecurityLevel is the required CDM robustness on Widevine's scale,
	// 0 (none) .. 5 (HW_SECURE_ALL).
	SecurityLevel int `koanf:"security_level" yaml:"security_level"`
	// LicenseKeys is which keys a ClearKey license carries: "entitled"
	// (the requested keys, then every other key of the content the token
	// entitles, so one license request unlocks audio and video under
	// per-track-type keys) or "requested" (exactly the requested keys).
	LicenseKeys string `koanf:"license_keys" yaml:"license_keys"`
}

// PolicyOverrideConfig holds the fields of one content's policy that
// differ from policy.default; nil fields are not overridden.
type PolicyOverrideConfig struct {
	RequireSubscription *bool          `koanf:"require_subscription" yaml:"require_subscription,omitempty"`
	Geo                 *GeoConfig     `koanf:"geo" yaml:"geo,omitempty"`
	MaxDevices          *int           `koanf:"max_devices" yaml:"max_devices,omitempty"`
	DeviceWindow        *time.Duration `koanf:"device_window" yaml:"device_window,omitempty"`
	MaxUses             *int           `koanf:"max_uses" yaml:"max_uses,omitempty"`
	AllowPersistent     *bool          `koanf:"allow_persistent" yaml:"allow_persistent,omitempty"`
	LicenseDuration     *time.Duration `koanf:"license_duration" yaml:"license_duration,omitempty"`
	RentalWindow        *time.Duration `koanf:"rental_window" yaml:"rental_window,omitempty"`
	PlaybackDuration    *time.Duration `koanf:"playback_duration" yaml:"playback_duration,omitempty"`
	HDCP                *string        `koanf:"hdcp" yaml:"hdcp,omitempty"`
	SecurityLevel       *int           `koanf:"security_level" yaml:"security_level,omitempty"`
	LicenseKeys         *string        `koanf:"license_keys" yaml:"license_keys,omitempty"`
	// LookAhead overrides license.look_ahead for this content.
	LookAhead *int `koanf:"look_ahead" yaml:"look_ahead,omitempty"`
}

// SubscriptionConfig is the operator's subscription callback
// (entitlement.CallbackConfig). Empty CallbackURL = every user counts as
// subscribed, which is only allowed while no policy sets
// require_subscription.
type SubscriptionConfig struct {
	// CallbackURL is asked GET URL?user=<sub>&content=<cid> (or POSTed
	// {"user","content"}) and answers {"active": bool}; https except
	// loopback.
	CallbackURL string `koanf:"callback_url" yaml:"callback_url"`
	// Method is GET or POST.
	Method string `koanf:"method" yaml:"method"`
	// Headers are added to every call (e.g. Authorization); values are
	// secret.
	Headers map[string]string `koanf:"headers" yaml:"headers" secret:"values"`
	// Timeout bounds one call; a timeout answers 503 unavailable, never a
	// grant.
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	// TTL is how long an "active" answer is cached, NegativeTTL an
	// "inactive" one. Errors are never cached.
	TTL         time.Duration `koanf:"ttl" yaml:"ttl"`
	NegativeTTL time.Duration `koanf:"negative_ttl" yaml:"negative_ttl"`
}

// Policy bounds.
const (
	maxPolicyDuration = 366 * 24 * time.Hour
	maxPolicyDevices  = 1000
	maxPolicyUses     = 1000
)

func defaultPolicy() PolicyConfig {
	return PolicyConfig{
		Default: ContentPolicyConfig{
			Geo:             GeoConfig{Allow: []string{}, Deny: []string{}},
			DeviceWindow:    entitlement.DefaultDeviceWindow,
			MaxUses:         entitlement.DefaultMaxUses,
			LicenseDuration: entitlement.DefaultLicenseDuration,
			HDCP:            entitlement.HDCPNone.String(),
			LicenseKeys:     entitlement.DefaultLicenseKeys.String(),
		},
		Content: map[string]*PolicyOverrideConfig{},
		Subscription: SubscriptionConfig{
			Method:      http.MethodGet,
			Headers:     map[string]string{},
			Timeout:     2 * time.Second,
			TTL:         60 * time.Second,
			NegativeTTL: 10 * time.Second,
		},
		Revocations: entitlement.RevocationSyncConfig{ResyncInterval: entitlement.DefaultResyncInterval},
	}
}

// contentIDs returns the overridden content IDs in order.
func (c PolicyConfig) contentIDs() []string {
	ids := make([]string, 0, len(c.Content))
	for id := range c.Content {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Validate checks every rule with the key that holds it, that a geo rule
// has a GeoIP database and that a required subscription has a callback.
func (c PolicyConfig) Validate() error {
	var errs errList
	c.Default.validate(&errs, "policy.default")
	var geoKeys, subKeys []string
	if c.Default.Geo.active() {
		geoKeys = append(geoKeys, "policy.default.geo")
	}
	if c.Default.RequireSubscription {
		subKeys = append(subKeys, "policy.default.require_subscription")
	}
	for _, id := range c.contentIDs() {
		o := c.Content[id]
		p := "policy.content." + id
		if err := keys.ValidateContentID(id); err != nil {
			errs.add(p, "%v", err)
			continue
		}
		if o == nil {
			continue
		}
		o.validate(&errs, p)
		eff := c.Default.apply(o)
		if eff.Geo.active() && o.Geo != nil {
			geoKeys = append(geoKeys, p+".geo")
		}
		if eff.RequireSubscription {
			subKeys = append(subKeys, p+".require_subscription")
		}
	}
	if len(geoKeys) > 0 && c.GeoIPFile == "" {
		errs.add("policy.geoip_file", "is required because %s sets a country rule (a GeoIP2/GeoLite2 Country .mmdb file)", strings.Join(geoKeys, ", "))
	}
	c.Subscription.validate(&errs, subKeys)
	checkDuration(&errs, "policy.revocations.resync_interval", c.Revocations.ResyncInterval, 100*time.Millisecond, time.Hour)
	return errs.err()
}

func (g GeoConfig) active() bool { return len(g.Allow) > 0 || len(g.Deny) > 0 }

func (g GeoConfig) validate(errs *errList, key string) {
	deny := map[string]bool{}
	for i, cc := range g.Deny {
		if !isCountryCode(cc) {
			errs.add(fmt.Sprintf("%s.deny[%d]", key, i), "%q is not an ISO 3166-1 alpha-2 country code", cc)
		}
		deny[strings.ToUpper(cc)] = true
	}
	for i, cc := range g.Allow {
		if !isCountryCode(cc) {
			errs.add(fmt.Sprintf("%s.allow[%d]", key, i), "%q is not an ISO 3166-1 alpha-2 country code", cc)
		} else if deny[strings.ToUpper(cc)] {
			errs.add(fmt.Sprintf("%s.allow[%d]", key, i), "%q is also in deny (deny wins); list it once", cc)
		}
	}
}

func isCountryCode(s string) bool {
	if len(s) != 2 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return true
}

func validateMaxDevices(errs *errList, key string, n int) {
	if n < 0 || n > maxPolicyDevices {
		errs.add(key, "must be between 0 (no limit) and %d (got %d)", maxPolicyDevices, n)
	}
}

func validateMaxUses(errs *errList, key string, n int) {
	if n == 0 || n < -1 || n > maxPolicyUses {
		errs.add(key, "must be -1 (unlimited) or between 1 and %d (got %d)", maxPolicyUses, n)
	}
}

func validateHDCP(errs *errList, key, s string) {
	if _, err := entitlement.ParseHDCP(s); err != nil {
		errs.add(key, "%q is not an HDCP level (want none, HDCP_V1, HDCP_V2, HDCP_V2_2 or HDCP_V2_3)", s)
	}
}

func validateLicenseKeys(errs *errList, key, s string) {
	if _, err := entitlement.ParseLicenseKeys(s); err != nil {
		errs.add(key, "%q (want entitled or requested)", s)
	}
}

func validateSecurityLevel(errs *errList, key string, n int) {
	if n < 0 || n > 5 {
		errs.add(key, "must be between 0 and 5 (got %d)", n)
	}
}

func (p ContentPolicyConfig) validate(errs *errList, key string) {
	p.Geo.validate(errs, key+".geo")
	validateMaxDevices(errs, key+".max_devices", p.MaxDevices)
	checkDuration(errs, key+".device_window", p.DeviceWindow, time.Minute, maxPolicyDuration)
	validateMaxUses(errs, key+".max_uses", p.MaxUses)
	checkDuration(errs, key+".license_duration", p.LicenseDuration, time.Minute, maxPolicyDuration)
	checkDuration(errs, key+".rental_window", p.RentalWindow, 0, maxPolicyDuration)
	checkDuration(errs, key+".playback_duration", p.PlaybackDuration, 0, maxPolicyDuration)
	validateHDCP(errs, key+".hdcp", p.HDCP)
	validateSecurityLevel(errs, key+".security_level", p.SecurityLevel)
	validateLicenseKeys(errs, key+".license_keys", p.LicenseKeys)
}

func (o *PolicyOverrideConfig) validate(errs *errList, key string) {
	if o.Geo != nil {
		o.Geo.validate(errs, key+".geo")
	}
	if o.MaxDevices != nil {
		validateMaxDevices(errs, key+".max_devices", *o.MaxDevices)
	}
	if o.DeviceWindow != nil {
		checkDuration(errs, key+".device_window", *o.DeviceWindow, time.Minute, maxPolicyDuration)
	}
	if o.MaxUses != nil {
		validateMaxUses(errs, key+".max_uses", *o.MaxUses)
	}
	if o.LicenseDuration != nil {
		checkDuration(errs, key+".license_duration", *o.LicenseDuration, time.Minute, maxPolicyDuration)
	}
	if o.RentalWindow != nil {
		checkDuration(errs, key+".rental_window", *o.RentalWindow, 0, maxPolicyDuration)
	}
	if o.PlaybackDuration != nil {
		checkDuration(errs, key+".playback_duration", *o.PlaybackDuration, 0, maxPolicyDuration)
	}
	if o.HDCP != nil {
		validateHDCP(errs, key+".hdcp", *o.HDCP)
	}
	if o.SecurityLevel != nil {
		validateSecurityLevel(errs, key+".security_level", *o.SecurityLevel)
	}
	if o.LicenseKeys != nil {
		validateLicenseKeys(errs, key+".license_keys", *o.LicenseKeys)
	}
	if o.LookAhead != nil && (*o.LookAhead < 0 || *o.LookAhead > entitlement.MaxLookAhead) {
		errs.add(key+".look_ahead", "%d key periods: want 0 (off) to %d", *o.LookAhead, entitlement.MaxLookAhead)
	}
}

// apply returns p with o's set fields.
func (p ContentPolicyConfig) apply(o *PolicyOverrideConfig) ContentPolicyConfig {
	if o == nil {
		return p
	}
	setPtr(&p.RequireSubscription, o.RequireSubscription)
	setPtr(&p.Geo, o.Geo)
	setPtr(&p.MaxDevices, o.MaxDevices)
	setPtr(&p.DeviceWindow, o.DeviceWindow)
	setPtr(&p.MaxUses, o.MaxUses)
	setPtr(&p.AllowPersistent, o.AllowPersistent)
	setPtr(&p.LicenseDuration, o.LicenseDuration)
	setPtr(&p.RentalWindow, o.RentalWindow)
	setPtr(&p.PlaybackDuration, o.PlaybackDuration)
	setPtr(&p.HDCP, o.HDCP)
	setPtr(&p.SecurityLevel, o.SecurityLevel)
	setPtr(&p.LicenseKeys, o.LicenseKeys)
	return p
}

func setPtr[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (s SubscriptionConfig) validate(errs *errList, requiredBy []string) {
	const p = "policy.subscription"
	if s.CallbackURL == "" {
		if len(requiredBy) > 0 {
			errs.add(p+".callback_url", "is required because %s is set; without a callback every user counts as subscribed", strings.Join(requiredBy, ", "))
		}
	} else {
		checkURL(errs, p+".callback_url", s.CallbackURL, false)
	}
	switch strings.ToUpper(s.Method) {
	case http.MethodGet, http.MethodPost:
	default:
		errs.add(p+".method", "%q (want GET or POST)", s.Method)
	}
	for name := range s.Headers {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			errs.add(p+".headers", "%q is not a header name", name)
		}
	}
	checkDuration(errs, p+".timeout", s.Timeout, 10*time.Millisecond, 30*time.Second)
	checkDuration(errs, p+".ttl", s.TTL, time.Second, 24*time.Hour)
	checkDuration(errs, p+".negative_ttl", s.NegativeTTL, time.Second, 24*time.Hour)
}

// Entitlement converts the validated section into the entitlement
// package's policy (call Validate first; an unparsable HDCP level is
// still reported here).
func (c PolicyConfig) Entitlement() (entitlement.PolicyConfig, error) {
	def, err := c.Default.entitlement()
	if err != nil {
		return entitlement.PolicyConfig{}, fmt.Errorf("policy.default: %w", err)
	}
	out := entitlement.PolicyConfig{Default: def, Content: make(map[string]entitlement.PolicyOverride, len(c.Content))}
	for _, id := range c.contentIDs() {
		o := c.Content[id]
		if o == nil {
			continue
		}
		eo := entitlement.PolicyOverride{
			RequireSubscription: o.RequireSubscription,
			MaxDevices:          o.MaxDevices,
			DeviceWindow:        o.DeviceWindow,
			MaxUses:             o.MaxUses,
			AllowPersistent:     o.AllowPersistent,
			LicenseDuration:     o.LicenseDuration,
			RentalWindow:        o.RentalWindow,
			PlaybackDuration:    o.PlaybackDuration,
		}
		if o.Geo != nil {
			g := o.Geo.entitlement()
			eo.Geo = &g
		}
		if o.HDCP != nil {
			h, err := entitlement.ParseHDCP(*o.HDCP)
			if err != nil {
				return entitlement.PolicyConfig{}, fmt.Errorf("policy.content.%s.hdcp: %w", id, err)
			}
			eo.HDCP = &h
		}
		if o.SecurityLevel != nil {
			if *o.SecurityLevel < 0 || *o.SecurityLevel > 5 {
				return entitlement.PolicyConfig{}, fmt.Errorf("policy.content.%s.security_level: %w: %d out of range 0..5", id, entitlement.ErrConfig, *o.SecurityLevel)
			}
			sl := entitlement.SecurityLevel(*o.SecurityLevel)
			eo.SecurityLevel = &sl
		}
		if o.LicenseKeys != nil {
			lk, err := entitlement.ParseLicenseKeys(*o.LicenseKeys)
			if err != nil {
				return entitlement.PolicyConfig{}, fmt.Errorf("policy.content.%s.license_keys: %w", id, err)
			}
			eo.LicenseKeys = &lk
		}
		eo.LookAhead = o.LookAhead
		out.Content[id] = eo
	}
	return out, nil
}

func (g GeoConfig) entitlement() entitlement.GeoRule {
	up := func(l []string) []string {
		var out []string
		for _, s := range l {
			out = append(out, strings.ToUpper(strings.TrimSpace(s)))
		}
		return out
	}
	return entitlement.GeoRule{Allow: up(g.Allow), Deny: up(g.Deny), AllowUnknown: g.AllowUnknown}
}

func (p ContentPolicyConfig) entitlement() (entitlement.ContentPolicy, error) {
	h, err := entitlement.ParseHDCP(p.HDCP)
	if err != nil {
		return entitlement.ContentPolicy{}, err
	}
	if p.SecurityLevel < 0 || p.SecurityLevel > 5 {
		return entitlement.ContentPolicy{}, fmt.Errorf("%w: security level %d out of range 0..5", entitlement.ErrConfig, p.SecurityLevel)
	}
	lk, err := entitlement.ParseLicenseKeys(p.LicenseKeys)
	if err != nil {
		return entitlement.ContentPolicy{}, err
	}
	return entitlement.ContentPolicy{
		RequireSubscription: p.RequireSubscription,
		Geo:                 p.Geo.entitlement(),
		MaxDevices:          p.MaxDevices,
		DeviceWindow:        p.DeviceWindow,
		MaxUses:             p.MaxUses,
		AllowPersistent:     p.AllowPersistent,
		LicenseDuration:     p.LicenseDuration,
		RentalWindow:        p.RentalWindow,
		PlaybackDuration:    p.PlaybackDuration,
		HDCP:                h,
		SecurityLevel:       entitlement.SecurityLevel(p.SecurityLevel),
		LicenseKeys:         lk,
	}, nil
}

// Callback returns the entitlement callback configuration (CallbackURL
// must be set); client is the HTTP client calls go through (nil = a new
// one).
func (s SubscriptionConfig) Callback(client *http.Client) entitlement.CallbackConfig {
	var h http.Header
	if len(s.Headers) > 0 {
		h = http.Header{}
		for name, v := range s.Headers {
			h.Set(name, v)
		}
	}
	return entitlement.CallbackConfig{
		URL: s.CallbackURL, Method: strings.ToUpper(s.Method), Header: h,
		Timeout: s.Timeout, TTL: s.TTL, NegativeTTL: s.NegativeTTL, HTTPClient: client,
	}
}
