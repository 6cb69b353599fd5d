package entitlement

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// replayTTLMargin keeps a jti's use count past the token's exp, covering
// the verifier's clock skew.
const replayTTLMargin = time.Minute

// Config is the entitlement service's configuration.
type Config struct {
	Policy PolicyConfig
	// LookAhead is how many following key periods a ClearKey license
	// carries under key rotation (look-ahead licenses, see LicenseKIDs);
	// 0 turns look-ahead off. The server's default is DefaultLookAhead.
	LookAhead int `yaml:"look_ahead"`
}

// Deps are the service's collaborators.
type Deps struct {
	// Verifier checks tokens (NewVerifier). Required: without it every
	// request is refused with ReasonUnavailable.
	Verifier TokenVerifier
	// Revocations; nil = an in-memory list.
	Revocations Revocations
	// Subscriptions; nil = content requiring a subscription is refused
	// with ReasonUnavailable.
	Subscriptions SubscriptionChecker
	// Countries resolves client countries; nil = content with a geo rule
	// is refused with ReasonUnavailable.
	Countries CountryResolver
	// Devices; nil = in-memory.
	Devices DeviceTracker
	// Replay; nil = in-memory.
	Replay ReplayGuard
	// Clock; nil = time.Now.
	Clock func() time.Time
	// ContentKeys lists a content's keys for LicenseKIDs; nil = licenses
	// carry the requested keys only.
	ContentKeys ContentKeyLister
	// PeriodTimes reads the time ranges recorded for key periods (the key
	// store); nil = no period has a known time range (see LicenseKIDs).
	PeriodTimes PeriodTimesLister
}

// Service is the Authorizer: token -> revocation -> content/KID
// entitlement -> subscription -> geography -> device limit -> replay. Each
// rule is a separate method so it can be traced and tested alone.
type Service struct {
	cfg  Config
	deps Deps
}

var _ Authorizer = (*Service)(nil)

// New returns the service; nil optional deps get their defaults.
func New(cfg Config, deps Deps) *Service {
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	if deps.Revocations == nil {
		deps.Revocations = NewMemoryRevocations(deps.Clock)
	}
	if deps.Devices == nil {
		deps.Devices = NewMemoryDevices()
	}
	if deps.Replay == nil {
		deps.Replay = NewMemoryReplay()
	}
	return &Service{cfg: cfg, deps: deps}
}

// Revocations returns the revocation list the service checks.
func (s *Service) Revocations() Revocations { return s.deps.Revocations }

// Ready reports whether the service's shared state is current.
func (s *Service) Ready() error {
	if s.deps.Verifier == nil {
		return ErrNoVerifier
	}
	return s.deps.Revocations.Ready()
}

func deny(r Reason, msg string, cause error) *DenyError {
	return &DenyError{Reason: r, Message: msg, Cause: cause}
}

// Authorize implements Authorizer. A refusal is a *DenyError.
func (s *Service) Authorize(ctx context.Context, req Request) (Decision, error) {
	now := s.deps.Clock()
	c, err := s.checkToken(ctx, req)
	if err != nil {
		return Decision{}, err
	}
	if err := s.checkRevoked(ctx, c, req); err != nil {
		return Decision{}, err
	}
	p := s.cfg.Policy.For(c.ContentID)
	d, err := s.checkEntitlement(c, req, p, now)
	if err != nil {
		return Decision{}, err
	}
	if err := s.checkSubscription(ctx, c, p); err != nil {
		return Decision{}, err
	}
	if err := s.checkGeo(req, p); err != nil {
		return Decision{}, err
	}
	if err := s.checkDeviceLimit(ctx, c, p, now); err != nil {
		return Decision{}, err
	}
	if err := s.checkReplay(ctx, c, p, req.KIDs, now); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// checkToken verifies the token.
func (s *Service) checkToken(ctx context.Context, req Request) (*Claims, error) {
	if req.Token == "" {
		return nil, deny(ReasonTokenMissing, "playback token missing", nil)
	}
	if s.deps.Verifier == nil {
		return nil, deny(ReasonUnavailable, "token verification unavailable", ErrNoVerifier)
	}
	c, err := s.deps.Verifier.Verify(ctx, req.Token)
	if err != nil {
		r := ReasonOf(err)
		msg := "playback token invalid"
		if r == ReasonTokenExpired {
			msg = "playback token expired or not yet valid"
		}
		return nil, deny(r, msg, err)
	}
	return c, nil
}

// checkRevoked refuses revoked users, devices, tokens and requested KIDs.
func (s *Service) checkRevoked(ctx context.Context, c *Claims, req Request) error {
	checks := []struct {
		kind  RevocationKind
		value string
	}{{RevokeUser, c.Subject}, {RevokeDevice, c.DeviceID}, {RevokeToken, c.ID}}
	for _, ch := range checks {
		if ch.value == "" {
			continue
		}
		revoked, err := s.deps.Revocations.IsRevoked(ctx, ch.kind, ch.value)
		if err != nil {
			return deny(ReasonUnavailable, "revocation list unavailable", err)
		}
		if revoked {
			return deny(ReasonRevoked, ch.kind.String()+" revoked", nil)
		}
	}
	return s.CheckKIDs(ctx, req.KIDs...)
}

// CheckKIDs refuses revoked KIDs with ReasonRevoked. Authorize checks the
// requested KIDs; handlers of opaque requests (or that release every key of
// a content) call it with the KIDs they are about to release.
func (s *Service) CheckKIDs(ctx context.Context, kids ...drm.KeyID) error {
	for _, k := range kids {
		revoked, err := s.deps.Revocations.IsRevoked(ctx, RevokeKID, k.String())
		if err != nil {
			return deny(ReasonUnavailable, "revocation list unavailable", err)
		}
		if revoked {
			return deny(ReasonRevoked, "key "+k.String()+" revoked", nil)
		}
	}
	return nil
}

// checkEntitlement matches the token to the request (content, KIDs,
// playback window, persistence) and compiles the license policy.
func (s *Service) checkEntitlement(c *Claims, req Request, p ContentPolicy, now time.Time) (Decision, error) {
	if req.ContentID != "" && req.ContentID != c.ContentID {
		return Decision{}, deny(ReasonNotEntitled, "token is for another content", nil)
	}
	if c.KIDs != nil {
		for _, k := range req.KIDs {
			if !slices.Contains(c.KIDs, k) {
				return Decision{}, deny(ReasonNotEntitled, "key "+k.String()+" not entitled", nil)
			}
		}
	}
	if !c.PlaybackStart.IsZero() && now.Before(c.PlaybackStart) {
		return Decision{}, deny(ReasonNotEntitled, "playback window not open yet", nil)
	}
	if !c.PlaybackEnd.IsZero() && !now.Before(c.PlaybackEnd) {
		return Decision{}, deny(ReasonNotEntitled, "playback window closed", nil)
	}
	pol, err := p.compile(c, req.Persistent, now)
	if err != nil {
		return Decision{}, deny(ReasonNotEntitled, err.Error(), nil)
	}
	return Decision{
		Subject: c.Subject, DeviceID: c.DeviceID, ContentID: c.ContentID, JTI: c.ID,
		TokenExpiry: c.ExpiresAt, KIDs: c.KIDs, TrackTypes: c.TrackTypes, Policy: pol,
	}, nil
}

// checkSubscription asks the SubscriptionChecker when the policy requires
// a subscription.
func (s *Service) checkSubscription(ctx context.Context, c *Claims, p ContentPolicy) error {
	if !p.RequireSubscription {
		return nil
	}
	if s.deps.Subscriptions == nil {
		return deny(ReasonUnavailable, "subscription check unavailable", errors.New("no subscription checker configured"))
	}
	active, err := s.deps.Subscriptions.Active(ctx, c.Subject, c.ContentID)
	if err != nil {
		return deny(ReasonUnavailable, "subscription check unavailable", err)
	}
	if !active {
		return deny(ReasonSubscription, "subscription inactive", nil)
	}
	return nil
}

// checkGeo applies the content's country rule to the client address.
func (s *Service) checkGeo(req Request, p ContentPolicy) error {
	if !p.Geo.active() {
		return nil
	}
	if s.deps.Countries == nil {
		return deny(ReasonUnavailable, "geolocation unavailable", fmt.Errorf("%w: no GeoIP database configured", ErrGeoLookup))
	}
	country, err := s.deps.Countries.Country(req.ClientIP)
	if err != nil {
		return deny(ReasonUnavailable, "geolocation unavailable", err)
	}
	if !p.Geo.allows(country) {
		if country == "" {
			return deny(ReasonGeoBlocked, "location unknown", nil)
		}
		return deny(ReasonGeoBlocked, "not available in "+country, nil)
	}
	return nil
}

// checkDeviceLimit admits the token's device against the user's limit.
func (s *Service) checkDeviceLimit(ctx context.Context, c *Claims, p ContentPolicy, now time.Time) error {
	if p.MaxDevices <= 0 {
		return nil
	}
	if c.DeviceID == "" {
		return deny(ReasonNotEntitled, "token has no device ID (did) but the content has a device limit", nil)
	}
	ok, err := s.deps.Devices.Admit(ctx, c.Subject, c.DeviceID, now, p.DeviceWindow, p.MaxDevices)
	if err != nil {
		return deny(ReasonUnavailable, "device registry unavailable", err)
	}
	if !ok {
		return deny(ReasonDeviceLimit, fmt.Sprintf("device limit of %d reached", p.MaxDevices), nil)
	}
	return nil
}

// checkReplay counts this use of the token's jti against MaxUses, per set
// of KIDs asked for: under key rotation (DASH-IF IOP Part 6 §9; live
// channels and --key-period) a player asks for each key period's KID in
// turn, so one count per token would refuse the fourth key period, while a
// replayed request (the same KIDs again) is still counted. Opaque requests
// (no KIDs) share one count per token.
func (s *Service) checkReplay(ctx context.Context, c *Claims, p ContentPolicy, kids []drm.KeyID, now time.Time) error {
	if p.MaxUses < 0 {
		return nil
	}
	ttl := c.ExpiresAt.Sub(now) + replayTTLMargin
	id := c.Issuer + "\x00" + c.ID
	if len(kids) > 0 {
		set := make([]string, len(kids))
		for i, k := range kids {
			set[i] = k.String()
		}
		slices.Sort(set)
		id += "\x00" + strings.Join(slices.Compact(set), ",")
	}
	n, err := s.deps.Replay.Use(ctx, id, c.IssuedAt, now, ttl)
	if err != nil {
		return deny(ReasonUnavailable, "replay check unavailable", err)
	}
	if n > int64(p.MaxUses) {
		return deny(ReasonReplay, fmt.Sprintf("token used more than %d times", p.MaxUses), nil)
	}
	if n == int64(p.MaxUses) {
		// The last use: a guard with a durable record (SharedState) keeps
		// the token exhausted through an outage of the shared counter.
		if m, ok := s.deps.Replay.(exhaustionMarker); ok {
			if err := m.MarkExhausted(ctx, id, c.ExpiresAt.Add(replayTTLMargin)); err != nil {
				return deny(ReasonUnavailable, "replay record unavailable", err)
			}
		}
	}
	return nil
}

// exhaustionMarker is a ReplayGuard that records exhausted tokens durably.
type exhaustionMarker interface {
	MarkExhausted(ctx context.Context, id string, until time.Time) error
}
