package config

import (
	"sort"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
)

// LicenseConfig is the license section: the license endpoints' own
// settings (package license, inline), the revocation purge webhooks and
// the vendor upstreams (package license/upstream).
type LicenseConfig struct {
	license.Config `koanf:",squash" yaml:",inline"`
	// PurgeWebhooks are URLs POSTed (JSON {event, kind, value, at}) after
	// every revocation so a CDN can purge affected content (package
	// revocation).
	PurgeWebhooks []string `koanf:"purge_webhooks" yaml:"purge_webhooks"`
	// Upstreams maps a DRM (widevine, playready, fairplay) to the vendor
	// license server its challenges are forwarded to (package
	// license/upstream owns the type, its defaults and its checks).
	// ClearKey licenses are issued by drmpipe itself and take no upstream.
	Upstreams map[string]upstream.Config `koanf:"upstreams" yaml:"upstreams"`
	// LookAhead is how many following key periods a ClearKey license for
	// rotated content also carries, while the token is valid past their
	// start (entitlement.Config.LookAhead); 0 turns look-ahead off.
	LookAhead int `koanf:"look_ahead" yaml:"look_ahead"`
}

func defaultLicense() LicenseConfig {
	return LicenseConfig{Config: license.DefaultConfig(), Upstreams: map[string]upstream.Config{}, LookAhead: entitlement.DefaultLookAhead}
}

// resolve fills each upstream's zero values with the upstream package's
// defaults, so that config check prints the effective values.
func (c *LicenseConfig) resolve() {
	for name, u := range c.Upstreams {
		c.Upstreams[name] = u.WithDefaults()
	}
}

// Validate checks the endpoints' settings and every upstream.
func (c LicenseConfig) Validate() error {
	var errs errList
	errs.domain(c.Config.Validate("license"))
	if c.LookAhead < 0 || c.LookAhead > entitlement.MaxLookAhead {
		errs.add("license.look_ahead", "%d key periods: want 0 (off) to %d", c.LookAhead, entitlement.MaxLookAhead)
	}
	names := make([]string, 0, len(c.Upstreams))
	for n := range c.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		validateUpstream(&errs, n, c.Upstreams[n])
	}
	return errs.err()
}

func validateUpstream(errs *errList, name string, u upstream.Config) {
	p := "license.upstreams." + name
	sys, err := drm.ParseSystem(name)
	switch {
	case err != nil:
		errs.add(p, "unknown DRM %q (want widevine, playready or fairplay)", name)
		return
	case sys == drm.ClearKey:
		errs.add(p, "ClearKey licenses are issued by drmpipe itself; remove this upstream")
		return
	}
	errs.domain(u.ValidateFor(sys, p))
}
