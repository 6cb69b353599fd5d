package entitlement

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// TokenVerifier checks a raw playback token and returns its claims.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*Claims, error)
}

// VerifierConfig pins what a valid playback token looks like.
type VerifierConfig struct {
	// Issuer is the required iss; Audience the required aud (one of the
	// token's audiences must equal it). Both are required.
	Issuer   string
	Audience string
	// Audiences are further accepted aud values: a token naming Audience
	// or any of them passes (RFC 7519 §4.1.3), with one signature
	// verification whichever it names.
	Audiences []string
	// Algorithms is the pinned set of accepted algorithms, a subset of
	// ES256, RS256, EdDSA. Default: all three. HMAC and "none" are never
	// accepted.
	Algorithms []string
	// ClockSkew is the leeway applied to exp, nbf and iat. Default 5 s:
	// enough for NTP-synced servers, small against 30 s tokens.
	ClockSkew time.Duration
	// MaxLifetime bounds exp - iat. Default 30 s.
	MaxLifetime time.Duration
	// MaxTokenSize bounds the raw token, checked before parsing. Default 8 KiB.
	MaxTokenSize int
	// VerifiedCacheEntries bounds the cache of verified tokens (keyed by
	// the SHA-256 of the token, kept until exp + ClockSkew; see
	// verifiedCache): a byte-identical token seen again within its
	// lifetime is not verified a second time. 0 =
	// DefaultVerifiedCacheEntries, negative = no cache.
	VerifiedCacheEntries int
}

// Defaults of VerifierConfig.
const (
	DefaultClockSkew    = 5 * time.Second
	DefaultMaxLifetime  = 30 * time.Second
	DefaultMaxTokenSize = 8 << 10
)

// Verifier verifies playback tokens (RFC 7519 JWT, RFC 7515 JWS compact
// serialization) against a KeySource. It is safe for concurrent use.
type Verifier struct {
	cfg      VerifierConfig
	keys     KeySource
	now      func() time.Time
	parser   *jwt.Parser
	verified *verifiedCache // nil = off
}

// NewVerifier checks cfg and returns a Verifier. now is the clock (nil =
// time.Now).
func NewVerifier(cfg VerifierConfig, keys KeySource, now func() time.Time) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, fmt.Errorf("%w: token issuer and audience are required", ErrConfig)
	}
	if keys == nil {
		return nil, fmt.Errorf("%w: no verification keys", ErrConfig)
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = slices.Clone(Algorithms)
	}
	for _, a := range cfg.Algorithms {
		switch a {
		case AlgES256, AlgRS256, AlgEdDSA:
		default:
			return nil, fmt.Errorf("%w: algorithm %q not allowed (use ES256, RS256, EdDSA)", ErrConfig, a)
		}
	}
	cfg.ClockSkew = confcheck.PositiveOr(cfg.ClockSkew, DefaultClockSkew)
	cfg.MaxLifetime = confcheck.PositiveOr(cfg.MaxLifetime, DefaultMaxLifetime)
	cfg.MaxTokenSize = confcheck.PositiveOr(cfg.MaxTokenSize, DefaultMaxTokenSize)
	if now == nil {
		now = time.Now
	}
	cfg.VerifiedCacheEntries = cmp.Or(cfg.VerifiedCacheEntries, DefaultVerifiedCacheEntries)
	v := &Verifier{cfg: cfg, keys: keys, now: now}
	if cfg.VerifiedCacheEntries > 0 {
		v.verified = newVerifiedCache(cfg.VerifiedCacheEntries)
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(slices.Clone(cfg.Algorithms)),
		jwt.WithLeeway(cfg.ClockSkew),
		jwt.WithTimeFunc(now),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.accepted()...),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// accepted lists Audience and Audiences, without repeats.
func (c VerifierConfig) accepted() []string {
	out := []string{c.Audience}
	for _, a := range c.Audiences {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// Config returns the effective configuration (defaults applied).
func (v *Verifier) Config() VerifierConfig { return v.cfg }

// Verify checks size, the JSON of header and claims (checkStrictJOSE: no
// crit, no duplicate or case-variant names, numeric times), algorithm,
// signature, iss, aud, exp, nbf, iat (with ClockSkew), lifetime and the
// custom claims, including the ID rule for sub, did and jti
// (ValidateSubjectID). Errors wrap ErrTokenTooLarge, ErrTokenHeader,
// ErrAlgorithm, ErrUnknownKID, ErrClaims or the jwt package's errors
// (jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet, ...); ReasonOf maps them.
// A byte-identical token that passed all of this before and has not expired
// is answered from the verified-token cache (VerifiedCacheEntries).
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > v.cfg.MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTokenTooLarge, len(raw), v.cfg.MaxTokenSize)
	}
	var sum [sha256.Size]byte
	if v.verified != nil {
		sum = sha256.Sum256([]byte(raw))
		if c, ok := v.verified.get(sum, v.now()); ok {
			return c, nil
		}
	}
	if err := checkStrictJOSE(raw); err != nil {
		return nil, err
	}
	var w wireClaims
	_, err := v.parser.ParseWithClaims(raw, &w, func(t *jwt.Token) (any, error) {
		alg, _ := t.Header["alg"].(string)
		kid, _ := t.Header["kid"].(string)
		if _, present := t.Header["kid"]; present && kid == "" {
			return nil, fmt.Errorf("%w: kid is not a non-empty string", ErrUnknownKID)
		}
		k, err := v.keys.Key(ctx, kid)
		if err != nil {
			return nil, err
		}
		// RFC 8725 §3.1: the key decides the algorithm, not the token.
		if !k.allows(alg) {
			return nil, fmt.Errorf("%w: %q does not fit key %q", ErrAlgorithm, alg, k.KID)
		}
		return k.Key, nil
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenSignatureInvalid) && !slices.Contains(v.cfg.Algorithms, algOf(raw)) {
			// jwt reports a disallowed method as a signature error.
			return nil, fmt.Errorf("%w: %w", ErrAlgorithm, err)
		}
		return nil, err
	}
	c, err := w.claims()
	if err != nil {
		return nil, err
	}
	if c.IssuedAt.IsZero() {
		return nil, fmt.Errorf("%w: iat missing", ErrClaims)
	}
	if life := c.ExpiresAt.Sub(c.IssuedAt); life > v.cfg.MaxLifetime {
		return nil, fmt.Errorf("%w: lifetime %s exceeds %s", ErrClaims, life, v.cfg.MaxLifetime)
	} else if life <= 0 {
		return nil, fmt.Errorf("%w: exp not after iat", ErrClaims)
	}
	if v.verified != nil {
		v.verified.put(sum, c, c.ExpiresAt.Add(v.cfg.ClockSkew), v.now())
	}
	return c, nil
}

// algOf returns the alg header of a compact JWS without verifying it, or "".
func algOf(raw string) string {
	t, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil || t == nil {
		return ""
	}
	a, _ := t.Header["alg"].(string)
	return a
}

// ReasonOf maps a Verify error to the refusal reason: time-related claims
// (exp passed, nbf or iat in the future) give ReasonTokenExpired, every
// other failure ReasonTokenInvalid. Issuer and audience failures win over
// time failures, so a foreign token is reported as invalid.
func ReasonOf(err error) Reason {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience),
		errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrTokenUnverifiable),
		errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenRequiredClaimMissing),
		errors.Is(err, ErrAlgorithm), errors.Is(err, ErrUnknownKID), errors.Is(err, ErrTokenTooLarge), errors.Is(err, ErrClaims),
		errors.Is(err, ErrTokenHeader):
		return ReasonTokenInvalid
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonTokenExpired
	}
	return ReasonTokenInvalid
}
