package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/entitlement/redisstate"
	"github.com/drmpipe/drmpipe/internal/observability"
)

// entitlement: token verification (drmpipe's own signing key is always
// trusted; an operator JWKS, file or URL, as well when configured;
// one verifier accepts every configured audience), the revocation list, device and replay
// state (shared through Redis when configured, with the outage fallback
// of entitlement.SharedState), and the policy.
func (b *builder) entitlement() error {
	t := b.cfg.Tokens
	signer, err := entitlement.NewSigner(t.SignerConfig(t.MaxLifetime))
	if err != nil {
		return fmt.Errorf("token signer: %w", err)
	}
	b.signer, b.app.Signer = signer, signer
	keySources := entitlement.KeySources{signer}
	if t.JWKSFile != "" || t.JWKSURL != "" {
		jwks, err := entitlement.NewJWKSKeys(b.ctx, t.JWKSConfig())
		if err != nil {
			return fmt.Errorf("tokens JWKS: %w", err)
		}
		keySources = append(keySources, jwks)
	}
	// tokens.audiences lists every accepted aud: one verifier accepts any
	// of them, so each token's signature is verified once.
	verifier, err := entitlement.NewVerifier(t.VerifierConfig(), keySources, nil)
	if err != nil {
		return fmt.Errorf("token verifier: %w", err)
	}
	deps := b.entitlementState()
	deps.Verifier = verifier
	deps.ContentKeys = entitlement.StoreKeyRefs{Reader: b.keyReads}
	deps.PeriodTimes = b.keyReads
	policy := b.cfg.Policy
	if err := policy.Validate("policy"); err != nil {
		return err
	}
	if err := b.policyDeps(&deps); err != nil {
		return err
	}
	b.ent = entitlement.New(entitlement.Config{Policy: policy, LookAhead: b.cfg.License.LookAhead}, deps)
	return nil
}

// entitlementState: the revocation list, devices and replay guard, in
// memory or shared through Redis.
func (b *builder) entitlementState() entitlement.Deps {
	localReplay := entitlement.NewMemoryReplay()
	d := entitlement.Deps{Revocations: entitlement.NewMemoryRevocations(nil), Devices: entitlement.NewMemoryDevices(), Replay: localReplay}
	if b.rdb != nil {
		rr := redisstate.NewRevocations(b.ctx, b.rdb, redisstate.RevocationsOptions{})
		b.closer(rr.Close)
		d.Revocations, b.redisBack = rr, rr.Reconnected()
		shared := entitlement.NewSharedState(b.log)
		d.Devices = shared.Devices(redisstate.NewDevices(b.rdb, ""), d.Devices)
		d.Replay = shared.Replay(redisstate.NewReplay(b.rdb, ""), localReplay, b.ks)
	}
	b.live = d.Revocations
	return d
}

// policyDeps: the operator's subscription callback (without one, every
// user counts as subscribed; config validation refuses
// require_subscription then) and the GeoIP database.
func (b *builder) policyDeps(d *entitlement.Deps) error {
	p := b.cfg.Policy
	d.Subscriptions = entitlement.StaticSubscriptions{AllowAll: true}
	if p.Subscription.URL != "" {
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 5 * time.Second}
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			tr = dt.Clone()
		}
		b.closer(func() error { tr.CloseIdleConnections(); return nil })
		sub := p.Subscription
		sub.HTTPClient = &http.Client{Transport: observability.HTTPTransport(tr, b.tp)}
		cb, err := entitlement.NewCallbackSubscriptions(sub)
		if err != nil {
			return fmt.Errorf("policy.subscription: %w", err)
		}
		d.Subscriptions = cb
	}
	if p.GeoIPFile != "" {
		geo, err := entitlement.OpenGeoIP(p.GeoIPFile)
		if err != nil {
			return fmt.Errorf("policy.geoip_file: %w", err)
		}
		b.closer(geo.Close)
		d.Countries = geo
	}
	return nil
}
