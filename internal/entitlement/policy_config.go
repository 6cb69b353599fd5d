package entitlement

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// Bounds of the policy settings of the configuration file.
const (
	maxPolicyDuration = 366 * 24 * time.Hour
	maxPolicyDevices  = 1000
	maxPolicyUses     = 1000
	maxSecurityLevel  = 5
)

// invalidEnum marks an HDCP level or license key scope that the
// configuration file spelled wrong; UnmarshalText keeps it for Validate to
// report with its key.
const invalidEnum = 0xff

// DefaultPolicyConfig is the policy section's built-in defaults, every
// value stated (the file form: max_uses 0 is refused, not defaulted).
func DefaultPolicyConfig() PolicyConfig {
	return PolicyConfig{
		Default: ContentPolicy{
			Geo:             GeoRule{Allow: []string{}, Deny: []string{}},
			DeviceWindow:    DefaultDeviceWindow,
			MaxUses:         DefaultMaxUses,
			LicenseDuration: DefaultLicenseDuration,
			HDCP:            HDCPNone,
			LicenseKeys:     DefaultLicenseKeys,
		},
		Content:      map[string]PolicyOverride{},
		Subscription: DefaultCallbackConfig(),
		Revocations:  RevocationSyncConfig{ResyncInterval: DefaultResyncInterval},
	}
}

// DefaultCallbackConfig is the subscription callback's defaults (no URL).
func DefaultCallbackConfig() CallbackConfig {
	c := CallbackConfig{Headers: map[string]string{}}
	c.withDefaults()
	return c
}

// Normalize upper-cases country codes and the callback method, as the
// rules compare them.
func (c *PolicyConfig) Normalize() {
	c.Default.Geo.normalize()
	for id, o := range c.Content {
		if o.Geo != nil {
			g := *o.Geo
			g.normalize()
			o.Geo = &g
			c.Content[id] = o
		}
	}
	c.Subscription.Method = strings.ToUpper(c.Subscription.Method)
}

func (g *GeoRule) normalize() {
	up := func(l []string) []string {
		if l == nil {
			return nil
		}
		out := make([]string, len(l))
		for i, s := range l {
			out[i] = strings.ToUpper(strings.TrimSpace(s))
		}
		return out
	}
	g.Allow, g.Deny = up(g.Allow), up(g.Deny)
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

// Validate checks the section as the file states it, each problem under
// prefix + "." + its key (prefix is "policy"): every rule's range, that a
// geo rule has a GeoIP database and that a required subscription has a
// callback. Zero values are checked as stated (call it on a configuration
// built over DefaultPolicyConfig). The errors wrap ErrConfig.
func (c PolicyConfig) Validate(prefix string) error {
	errs := confcheck.New(ErrConfig)
	key := func(k string) string { return confcheck.Key(prefix, k) }
	c.Default.validate(errs, key("default"))
	var geoKeys, subKeys []string
	if c.Default.Geo.active() {
		geoKeys = append(geoKeys, key("default.geo"))
	}
	if c.Default.RequireSubscription {
		subKeys = append(subKeys, key("default.require_subscription"))
	}
	for _, id := range c.contentIDs() {
		o := c.Content[id]
		p := key("content." + id)
		if err := keys.ValidateContentID(id); err != nil {
			errs.Add(p, "%v", err)
			continue
		}
		o.validate(errs, p)
		eff := c.Default
		eff.apply(o)
		if eff.Geo.active() && o.Geo != nil {
			geoKeys = append(geoKeys, p+".geo")
		}
		if eff.RequireSubscription {
			subKeys = append(subKeys, p+".require_subscription")
		}
	}
	if len(geoKeys) > 0 && c.GeoIPFile == "" {
		errs.Add(key("geoip_file"), "is required because %s sets a country rule (a GeoIP2/GeoLite2 Country .mmdb file)", strings.Join(geoKeys, ", "))
	}
	c.Subscription.validate(errs, key("subscription"), subKeys)
	errs.Duration(key("revocations.resync_interval"), c.Revocations.ResyncInterval, 100*time.Millisecond, time.Hour)
	return errs.Err()
}

// apply sets o's set fields on p.
func (p *ContentPolicy) apply(o PolicyOverride) {
	set(&p.RequireSubscription, o.RequireSubscription)
	set(&p.Geo, o.Geo)
	set(&p.MaxDevices, o.MaxDevices)
	set(&p.DeviceWindow, o.DeviceWindow)
	set(&p.MaxUses, o.MaxUses)
	set(&p.AllowPersistent, o.AllowPersistent)
	set(&p.LicenseDuration, o.LicenseDuration)
	set(&p.RentalWindow, o.RentalWindow)
	set(&p.PlaybackDuration, o.PlaybackDuration)
	set(&p.HDCP, o.HDCP)
	set(&p.SecurityLevel, o.SecurityLevel)
	set(&p.LicenseKeys, o.LicenseKeys)
}

func (g GeoRule) validate(errs *confcheck.Errors, key string) {
	deny := map[string]bool{}
	for i, cc := range g.Deny {
		if !isCountryCode(cc) {
			errs.Add(fmt.Sprintf("%s.deny[%d]", key, i), "%q is not an ISO 3166-1 alpha-2 country code", cc)
		}
		deny[strings.ToUpper(cc)] = true
	}
	for i, cc := range g.Allow {
		if !isCountryCode(cc) {
			errs.Add(fmt.Sprintf("%s.allow[%d]", key, i), "%q is not an ISO 3166-1 alpha-2 country code", cc)
		} else if deny[strings.ToUpper(cc)] {
			errs.Add(fmt.Sprintf("%s.allow[%d]", key, i), "%q is also in deny (deny wins); list it once", cc)
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

// policyChecks are the checks of one policy field, shared by a content
// policy and an override.
type policyChecks struct {
	errs *confcheck.Errors
	key  string
}

func (c policyChecks) maxDevices(n int) {
	if n < 0 || n > maxPolicyDevices {
		c.errs.Add(c.key+".max_devices", "must be between 0 (no limit) and %d (got %d)", maxPolicyDevices, n)
	}
}

func (c policyChecks) maxUses(n int) {
	if n == 0 || n < -1 || n > maxPolicyUses {
		c.errs.Add(c.key+".max_uses", "must be -1 (unlimited) or between 1 and %d (got %d)", maxPolicyUses, n)
	}
}

func (c policyChecks) hdcp(h HDCP) {
	if _, ok := hdcpNames[h]; !ok {
		c.errs.Add(c.key+".hdcp", "is not an HDCP level (want none, HDCP_V1, HDCP_V2, HDCP_V2_2 or HDCP_V2_3)")
	}
}

func (c policyChecks) licenseKeys(l LicenseKeys) {
	if _, ok := licenseKeysNames[l]; !ok {
		c.errs.Add(c.key+".license_keys", "is not a license key scope (want entitled or requested)")
	}
}

func (c policyChecks) securityLevel(l SecurityLevel) {
	switch {
	case l == invalidEnum:
		c.errs.Add(c.key+".security_level", "must be between 0 and %d (got a value out of range)", maxSecurityLevel)
	case l > maxSecurityLevel:
		c.errs.Add(c.key+".security_level", "must be between 0 and %d (got %d)", maxSecurityLevel, l)
	}
}

func (c policyChecks) duration(name string, d, lo time.Duration) {
	c.errs.Duration(c.key+"."+name, d, lo, maxPolicyDuration)
}

func (p ContentPolicy) validate(errs *confcheck.Errors, key string) {
	c := policyChecks{errs, key}
	p.Geo.validate(errs, key+".geo")
	c.maxDevices(p.MaxDevices)
	c.duration("device_window", p.DeviceWindow, time.Minute)
	c.maxUses(p.MaxUses)
	c.duration("license_duration", p.LicenseDuration, time.Minute)
	c.duration("rental_window", p.RentalWindow, 0)
	c.duration("playback_duration", p.PlaybackDuration, 0)
	c.hdcp(p.HDCP)
	c.securityLevel(p.SecurityLevel)
	c.licenseKeys(p.LicenseKeys)
}

func (o PolicyOverride) validate(errs *confcheck.Errors, key string) {
	c := policyChecks{errs, key}
	if o.Geo != nil {
		o.Geo.validate(errs, key+".geo")
	}
	if o.MaxDevices != nil {
		c.maxDevices(*o.MaxDevices)
	}
	if o.DeviceWindow != nil {
		c.duration("device_window", *o.DeviceWindow, time.Minute)
	}
	if o.MaxUses != nil {
		c.maxUses(*o.MaxUses)
	}
	if o.LicenseDuration != nil {
		c.duration("license_duration", *o.LicenseDuration, time.Minute)
	}
	if o.RentalWindow != nil {
		c.duration("rental_window", *o.RentalWindow, 0)
	}
	if o.PlaybackDuration != nil {
		c.duration("playback_duration", *o.PlaybackDuration, 0)
	}
	if o.LookAhead != nil && (*o.LookAhead < 0 || *o.LookAhead > MaxLookAhead) {
		errs.Add(key+".look_ahead", "%d key periods: want 0 (off) to %d", *o.LookAhead, MaxLookAhead)
	}
	if o.HDCP != nil {
		c.hdcp(*o.HDCP)
	}
	if o.SecurityLevel != nil {
		c.securityLevel(*o.SecurityLevel)
	}
	if o.LicenseKeys != nil {
		c.licenseKeys(*o.LicenseKeys)
	}
}

func (s CallbackConfig) validate(errs *confcheck.Errors, p string, requiredBy []string) {
	if s.URL == "" {
		if len(requiredBy) > 0 {
			errs.Add(p+".callback_url", "is required because %s is set; without a callback every user counts as subscribed", strings.Join(requiredBy, ", "))
		}
	} else {
		errs.URL(p+".callback_url", s.URL, false)
	}
	switch strings.ToUpper(s.Method) {
	case http.MethodGet, http.MethodPost:
	default:
		errs.Add(p+".method", "%q (want GET or POST)", s.Method)
	}
	for name := range s.Headers {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			errs.Add(p+".headers", "%q is not a header name", name)
		}
	}
	errs.Duration(p+".timeout", s.Timeout, 10*time.Millisecond, 30*time.Second)
	errs.Duration(p+".ttl", s.TTL, time.Second, 24*time.Hour)
	errs.Duration(p+".negative_ttl", s.NegativeTTL, time.Second, 24*time.Hour)
	if s.MaxEntries < 1 || s.MaxEntries > 10_000_000 {
		errs.Add(p+".max_entries", "must be between 1 and 10000000 (got %d)", s.MaxEntries)
	}
}

// MarshalText writes the level's name (HDCP.String).
func (h HDCP) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses a level name (ParseHDCP); an unknown name is kept
// as an invalid level for PolicyConfig.Validate to report with its key.
func (h *HDCP) UnmarshalText(b []byte) error { *h = parseOrInvalid(b, ParseHDCP); return nil }

// MarshalText writes the scope's name (LicenseKeys.String).
func (l LicenseKeys) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText parses entitled or requested (ParseLicenseKeys); anything
// else is kept as an invalid scope for PolicyConfig.Validate to report.
func (l *LicenseKeys) UnmarshalText(b []byte) error {
	*l = parseOrInvalid(b, ParseLicenseKeys)
	return nil
}

// parseOrInvalid parses b with parse; a name parse refuses becomes
// invalidEnum.
func parseOrInvalid[T ~uint8](b []byte, parse func(string) (T, error)) T {
	v, err := parse(string(b))
	if err != nil {
		return invalidEnum
	}
	return v
}
