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
	issuer, audience := entitlement.TokenIdentity(t.Issuer, t.Audiences)
	signer, err := entitlement.NewSigner(entitlement.SignerConfig{File: t.SigningKeyFile, Issuer: issuer, Audience: audience, TTL: t.MaxLifetime})
	if err != nil {
		return fmt.Errorf("token signer: %w", err)
	}
	b.signer, b.app.Signer = signer, signer
	keySources := entitlement.KeySources{signer}
	if t.JWKSFile != "" || t.JWKSURL != "" {
		jwks, err := entitlement.NewJWKSKeys(b.ctx, entitlement.JWKSConfig{File: t.JWKSFile, URL: t.JWKSURL, RefreshInterval: t.JWKSRefresh})
		if err != nil {
			return fmt.Errorf("tokens JWKS: %w", err)
		}
		keySources = append(keySources, jwks)
	}
	// tokens.audiences lists every accepted aud: one verifier accepts any
	// of them, so each token's signature is verified once.
	verifier, err := entitlement.NewVerifier(entitlement.VerifierConfig{
		Issuer: issuer, Audience: audience, Audiences: t.Audiences, Algorithms: t.Algorithms,
		ClockSkew: t.ClockSkew, MaxLifetime: t.MaxLifetime,
	}, keySources, nil)
	if err != nil {
		return fmt.Errorf("token verifier: %w", err)
	}
	deps := b.entitlementState()
	deps.Verifier = verifier
	deps.ContentKeys = contentKeyRefs{b.keyReads}
	deps.PeriodTimes = b.ks
	policy, err := b.cfg.Policy.Entitlement()
	if err == nil {
		err = policy.Validate()
	}
	if err != nil {
		return fmt.Errorf("policy: %w", err)
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
	if p.Subscription.CallbackURL != "" {
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 5 * time.Second}
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			tr = dt.Clone()
		}
		b.closer(func() error { tr.CloseIdleConnections(); return nil })
		cb, err := entitlement.NewCallbackSubscriptions(p.Subscription.Callback(&http.Client{Transport: observability.HTTPTransport(tr, b.tp)}))
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
