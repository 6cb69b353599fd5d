package entitlement

import (
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
	Allow []string
	// Deny lists refused countries; it wins over Allow.
	Deny []string
	// AllowUnknown lets clients whose country cannot be determined (private
	// addresses, addresses not in the database) through. Default false:
	// unknown is refused whenever Allow or Deny is set.
	AllowUnknown bool
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

// ContentPolicy is the complete rule set of one content ID.
type ContentPolicy struct {
	// RequireSubscription makes Authorize ask the SubscriptionChecker.
	RequireSubscription bool
	Geo                 GeoRule
	// MaxDevices is the number of distinct devices a user may get licenses
	// for within DeviceWindow (sliding); 0 = no limit.
	MaxDevices   int
	DeviceWindow time.Duration // 0 = DefaultDeviceWindow
	// MaxUses is how many license requests one token (jti) may make;
	// 0 = DefaultMaxUses, negative = unlimited.
	MaxUses int
	// AllowPersistent allows persistent licenses (offline playback).
	AllowPersistent bool
	// LicenseDuration, RentalWindow and PlaybackDuration go into
	// Decision.Policy. LicenseDuration 0 = DefaultLicenseDuration.
	LicenseDuration  time.Duration
	RentalWindow     time.Duration
	PlaybackDuration time.Duration
	HDCP             HDCP
	SecurityLevel    SecurityLevel
	// LicenseKeys is which keys a ClearKey license carries; 0 =
	// DefaultLicenseKeys.
	LicenseKeys LicenseKeys
}

// withDefaults fills zero fields.
func (p ContentPolicy) withDefaults() ContentPolicy {
	if p.DeviceWindow <= 0 {
		p.DeviceWindow = DefaultDeviceWindow
	}
	if p.MaxUses == 0 {
		p.MaxUses = DefaultMaxUses
	}
	if p.LicenseDuration <= 0 {
		p.LicenseDuration = DefaultLicenseDuration
	}
	if p.LicenseKeys == 0 {
		p.LicenseKeys = DefaultLicenseKeys
	}
	return p
}

// PolicyOverride changes some fields of the default policy for one content
// ID; nil fields keep the default.
type PolicyOverride struct {
	RequireSubscription *bool
	Geo                 *GeoRule
	MaxDevices          *int
	DeviceWindow        *time.Duration
	MaxUses             *int
	AllowPersistent     *bool
	LicenseDuration     *time.Duration
	RentalWindow        *time.Duration
	PlaybackDuration    *time.Duration
	HDCP                *HDCP
	SecurityLevel       *SecurityLevel
	LicenseKeys         *LicenseKeys
	// LookAhead overrides Config.LookAhead (look-ahead licenses) for this
	// content; 0 turns look-ahead off for it.
	LookAhead *int
}

// PolicyConfig is the default policy plus per-content overrides.
type PolicyConfig struct {
	Default ContentPolicy
	Content map[string]PolicyOverride
}

// For returns the effective policy of contentID, defaults applied.
func (c PolicyConfig) For(contentID string) ContentPolicy {
	p := c.Default
	if o, ok := c.Content[contentID]; ok {
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
	return p.withDefaults()
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Validate checks every policy for values no rule can honour.
func (c PolicyConfig) Validate() error {
	check := func(name string, p ContentPolicy) error {
		if p.MaxDevices < 0 {
			return fmt.Errorf("%w: policy %s: negative MaxDevices", ErrConfig, name)
		}
		if _, ok := hdcpNames[p.HDCP]; !ok {
			return fmt.Errorf("%w: policy %s: unknown HDCP level %d", ErrConfig, name, p.HDCP)
		}
		if _, ok := licenseKeysNames[p.LicenseKeys]; !ok {
			return fmt.Errorf("%w: policy %s: unknown license keys scope %d", ErrConfig, name, p.LicenseKeys)
		}
		if p.SecurityLevel > 5 {
			return fmt.Errorf("%w: policy %s: security level %d out of range 0..5", ErrConfig, name, p.SecurityLevel)
		}
		for _, cc := range append(append([]string(nil), p.Geo.Allow...), p.Geo.Deny...) {
			if len(cc) != 2 {
				return fmt.Errorf("%w: policy %s: country %q is not ISO 3166-1 alpha-2", ErrConfig, name, cc)
			}
		}
		return nil
	}
	if err := check("default", c.Default.withDefaults()); err != nil {
		return err
	}
	for id := range c.Content {
		if err := check(fmt.Sprintf("%q", id), c.For(id)); err != nil {
			return err
		}
	}
	return nil
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
