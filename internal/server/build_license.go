package server

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
	"github.com/drmpipe/drmpipe/internal/observability"
)

// licenses: what every license endpoint shares (authorizer, cache, rate
// limits, CORS) and the ClearKey license server.
func (b *builder) licenses() error {
	var err error
	if b.trusted, err = parsePrefixes(b.cfg.Server.TrustedProxies); err != nil {
		return err
	}
	lc := b.cfg.License
	// license.cache_ttl 0 turns the cache off (duplicates are still merged
	// while in flight); otherwise it caps each entry with the token expiry.
	if lc.CacheTTL > 0 {
		b.cache = license.NewMemoryCache(license.DefaultMemoryCacheEntries, nil)
	}
	if r := b.cfg.Redis; b.rdb != nil && lc.CacheTTL > 0 {
		rc := license.NewRedisCache(license.RedisCacheConfig{Redis: r}, b.log, b.redisGuard)
		b.closer(rc.Close)
		b.cache = rc
	}
	rl, trusted := lc.RateLimit, b.trusted
	b.ldeps = license.Deps{
		Authorizer: observability.TracedAuthorizer(b.ent, b.tp, b.metrics),
		Cache:      b.cache,
		Limiter:    license.NewLimiter(rl, nil),
		Log:        b.log,
		ClientIP:   entitlement.TrustedProxies(trusted).ClientIP,
	}
	b.epCfg = license.EndpointConfig{TokenHeader: b.cfg.Tokens.Header, CacheTTL: lc.CacheTTL}
	if b.cors, err = license.CORS(license.CORSConfig{AllowedOrigins: lc.CORSOrigins}, b.cfg.Tokens.Header); err != nil {
		return err
	}
	ck, err := license.NewClearKeyHandler(license.ClearKeyConfig{EndpointConfig: b.epCfg}, license.ClearKeyDeps{Deps: b.ldeps, Scope: b.ent, Keys: license.StoreKeys{Reader: b.keyReads}})
	if err != nil {
		return err
	}
	b.mount(Route{"POST /license/clearkey", b.licenseRoute("clearkey", "drmpipe", ck)}, Route{"OPTIONS /license/", b.cors(http.NotFoundHandler())})
	return nil
}

// licenseRoute traces, meters and applies CORS to a license endpoint.
func (b *builder) licenseRoute(name, vendor string, h http.Handler) http.Handler {
	return observability.HTTPHandler(observability.MeteredLicense(b.cors(h), b.metrics, name, vendor, license.CacheHeader), observability.SpanLicenseRequest, b.tp)
}

// vendorGateway: one endpoint per configured vendor upstream
// (license.upstreams), each with its traced HTTP client and breaker gauge.
func (b *builder) vendorGateway() error {
	for name, up := range b.cfg.License.Upstreams {
		upHTTP := &http.Client{Transport: observability.VendorTransport(observability.HTTPTransport(http.DefaultTransport, b.tp), name, up.Type.String(), b.tp, b.metrics)}
		udeps := upstream.Deps{HTTPClient: upHTTP, Log: b.log, KIDs: contentKIDs{b.ks}}
		system, err := drm.ParseSystem(name)
		if err != nil || system == drm.ClearKey || system.String() != name {
			return fmt.Errorf("license upstream %s: license.upstreams: %q is not widevine, playready or fairplay", name, name)
		}
		gw, client, err := upstream.NewGateway(system, upstream.GatewayConfig{EndpointConfig: b.epCfg, Upstream: up}, upstream.GatewayDeps{Deps: b.ldeps, Upstream: udeps})
		if err != nil {
			return fmt.Errorf("license upstream %s: %w", name, err)
		}
		if system == drm.FairPlay {
			b.mount(Route{"GET /license/fairplay/certificate", b.cors(gw)})
		}
		h := observability.BreakerGauge(gw, b.metrics, name, client)
		b.mount(Route{"POST /license/" + name, b.licenseRoute(name, up.Type.String(), h)})
	}
	return nil
}

// contentKIDs lists a content's active keys for vendor adapters that must
// name keys (Axinom).
type contentKIDs struct{ ks keys.Reader }

func (c contentKIDs) ContentKIDs(ctx context.Context, contentID string) ([]upstream.ContentKID, error) {
	list, err := c.ks.List(ctx, contentID)
	if err != nil {
		return nil, err
	}
	var out []upstream.ContentKID
	for _, k := range list {
		if k.State == keys.StateActive {
			out = append(out, upstream.ContentKID{KID: k.KID, TrackType: k.TrackType})
		}
	}
	return out, nil
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("server.trusted_proxies: %q: %w", s, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("server.trusted_proxies: %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}
