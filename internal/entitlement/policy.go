package entitlement

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// Policy defaults applied by PolicyConfig.For when a field is zero.
const (
	DefaultMaxUses         = 3
	DefaultDeviceWindow    = 24 * time.Hour
	DefaultLicenseDuration = 24 * time.Hour
)

// GeoRule restricts playback by the client's country (ISO 3166-1 alpha-2).
type GeoRule struct {
	// Allow, when non-empty, is the only set of countries allowed.
	Allow []string `koanf:"allow" yaml:"allow"`
	// Deny lists refused countries; it wins over Allow.
	Deny []string `koanf:"deny" yaml:"deny"`
	// AllowUnknown lets clients whose country cannot be determined (private
	// addresses, addresses not in the database) through. Default false:
	// unknown is refused whenever Allow or Deny is set.
	AllowUnknown bool `koanf:"allow_unknown" yaml:"allow_unknown"`
}

// active reports whether the rule restricts anything.
func (g GeoRule) active() bool { return len(g.Allow) > 0 || len(g.Deny) > 0 }

// allows decides country ("" = unknown).
func (g GeoRule) allows(country string) bool {
	if !g.active() {
		return true
	}
	if country == "" {
		return g.AllowUnknown
	}
	for _, c := range g.Deny {
		if strings.EqualFold(c, country) {
			return false
		}
	}
	if len(g.Allow) == 0 {
		return true
	}
	for _, c := range g.Allow {
		if strings.EqualFold(c, country) {
			return true
		}
	}
	return false
}

// ContentPolicy is the complete rule set of one content ID: the value of
// policy.default in the configuration file.
type ContentPolicy struct {
	// RequireSubscription makes Authorize ask the SubscriptionChecker.
	RequireSubscription bool    `koanf:"require_subscription" yaml:"require_subscription"`
	Geo                 GeoRule `koanf:"geo" yaml:"geo"`
	// MaxDevices is the number of distinct devices a user may get licenses
	// for within DeviceWindow (sliding); 0 = no limit.
	MaxDevices   int           `koanf:"max_devices" yaml:"max_devices"`
	DeviceWindow time.Duration `koanf:"device_window" yaml:"device_window"` // 0 = DefaultDeviceWindow
	// MaxUses is how many license requests one token (jti) may make;
	// 0 = DefaultMaxUses, negative = unlimited (the file takes -1).
	MaxUses int `koanf:"max_uses" yaml:"max_uses"`
	// AllowPersistent allows persistent licenses (offline playback).
	AllowPersistent bool `koanf:"allow_persistent" yaml:"allow_persistent"`
	// LicenseDuration, RentalWindow and PlaybackDuration go into
	// Decision.Policy. LicenseDuration 0 = DefaultLicenseDuration.
	LicenseDuration  time.Duration `koanf:"license_duration" yaml:"license_duration"`
	RentalWindow     time.Duration `koanf:"rental_window" yaml:"rental_window"`
	PlaybackDuration time.Duration `koanf:"playback_duration" yaml:"playback_duration"`
	HDCP             HDCP          `koanf:"hdcp" yaml:"hdcp"`
	SecurityLevel    SecurityLevel `koanf:"security_level" yaml:"security_level"`
	// LicenseKeys is which keys a ClearKey license carries; 0 =
	// DefaultLicenseKeys.
	LicenseKeys LicenseKeys `koanf:"license_keys" yaml:"license_keys"`
}

// withDefaults fills zero fields (Validate refuses negative durations).
func (p ContentPolicy) withDefaults() ContentPolicy {
	p.DeviceWindow = cmp.Or(p.DeviceWindow, DefaultDeviceWindow)
	p.MaxUses = cmp.Or(p.MaxUses, DefaultMaxUses)
	p.LicenseDuration = cmp.Or(p.LicenseDuration, DefaultLicenseDuration)
	p.LicenseKeys = cmp.Or(p.LicenseKeys, DefaultLicenseKeys)
	return p
}

// PolicyOverride changes some fields of the default policy for one content
// ID (policy.content.<id>); nil fields keep the default.
type PolicyOverride struct {
	RequireSubscription *bool          `koanf:"require_subscription" yaml:"require_subscription,omitempty"`
	Geo                 *GeoRule       `koanf:"geo" yaml:"geo,omitempty"`
	MaxDevices          *int           `koanf:"max_devices" yaml:"max_devices,omitempty"`
	DeviceWindow        *time.Duration `koanf:"device_window" yaml:"device_window,omitempty"`
	MaxUses             *int           `koanf:"max_uses" yaml:"max_uses,omitempty"`
	AllowPersistent     *bool          `koanf:"allow_persistent" yaml:"allow_persistent,omitempty"`
	LicenseDuration     *time.Duration `koanf:"license_duration" yaml:"license_duration,omitempty"`
	RentalWindow        *time.Duration `koanf:"rental_window" yaml:"rental_window,omitempty"`
	PlaybackDuration    *time.Duration `koanf:"playback_duration" yaml:"playback_duration,omitempty"`
	HDCP                *HDCP          `koanf:"hdcp" yaml:"hdcp,omitempty"`
	SecurityLevel       *SecurityLevel `koanf:"security_level" yaml:"security_level,omitempty"`
	LicenseKeys         *LicenseKeys   `koanf:"license_keys" yaml:"license_keys,omitempty"`
	// LookAhead overrides Config.LookAhead (look-ahead licenses) for this
	// content; 0 turns look-ahead off for it.
	LookAhead *int `koanf:"look_ahead" yaml:"look_ahead,omitempty"`
}

// PolicyConfig is the entitlement policy: the policy section of the
// configuration file. Default and Content are the rules the Service
// applies; Subscription, GeoIPFile and Revocations configure the
// collaborators the composition root builds for it (the subscription
// callback, the GeoIP database, the revocation re-sync).
type PolicyConfig struct {
	// Default is the policy of every content without an override.
	Default ContentPolicy `koanf:"default" yaml:"default"`
	// Content maps a content ID to the fields that differ from Default;
	// unset fields keep Default's value (a geo block replaces Default's
	// geo rule as a whole).
	Content map[string]PolicyOverride `koanf:"content" yaml:"content"`
	// Subscription is the operator's subscription callback; an empty URL =
	// every user counts as subscribed, which only holds while no policy
	// sets require_subscription.
	Subscription CallbackConfig `koanf:"subscription" yaml:"subscription"`
	// GeoIPFile is a MaxMind GeoIP2/GeoLite2 Country (or City) database
	// (mmdb); required when any geo rule is set.
	GeoIPFile string `koanf:"geoip_file" yaml:"geoip_file"`
	// Revocations is how the revocation list follows the durable log.
	Revocations RevocationSyncConfig `koanf:"revocations" yaml:"revocations"`
}

// For returns the effective policy of contentID, defaults applied.
func (c PolicyConfig) For(contentID string) ContentPolicy {
	p := c.Default
	if o, ok := c.Content[contentID]; ok {
		p.apply(o)
	}
	return p.withDefaults()
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// compile builds the license restrictions from the content policy, the
// token's overrides (which may only tighten it) and the playback window.
// now is the decision time. It refuses a persistent request the policy
// does not allow.
func (p ContentPolicy) compile(c *Claims, persistent bool, now time.Time) (Policy, error) {
	out := Policy{
		LicenseDuration:  p.LicenseDuration,
		RentalWindow:     p.RentalWindow,
		PlaybackDuration: p.PlaybackDuration,
		HDCP:             p.HDCP,
		SecurityLevel:    p.SecurityLevel,
	}
	allowPersistent := p.AllowPersistent
	if o := c.Policy; o != nil {
		out.LicenseDuration = tighter(out.LicenseDuration, o.LicenseDuration)
		out.RentalWindow = tighter(out.RentalWindow, o.RentalWindow)
		out.PlaybackDuration = tighter(out.PlaybackDuration, o.PlaybackDuration)
		if o.Persistent != nil && !*o.Persistent {
			allowPersistent = false
		}
		if o.HDCP != nil && *o.HDCP > out.HDCP {
			out.HDCP = *o.HDCP
		}
		if o.SecurityLevel != nil && *o.SecurityLevel > out.SecurityLevel {
			out.SecurityLevel = *o.SecurityLevel
		}
	}
	if !c.PlaybackEnd.IsZero() {
		out.LicenseDuration = tighter(out.LicenseDuration, c.PlaybackEnd.Sub(now))
	}
	if persistent && !allowPersistent {
		return Policy{}, fmt.Errorf("persistent license not allowed")
	}
	out.Persistent = persistent
	return out, nil
}

// tighter returns the smaller positive duration; 0 means "no limit".
func tighter(cur, override time.Duration) time.Duration {
	if override <= 0 {
		return cur
	}
	if cur <= 0 || override < cur {
		return override
	}
	return cur
}
