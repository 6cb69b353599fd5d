package entitlement

import "errors"

// Sentinel errors. Authorize wraps them in a *DenyError (Cause) so handlers
// can log the detail while the client sees only the Reason and Message.
var (
	// ErrTokenTooLarge: the raw token exceeds VerifierConfig.MaxTokenSize;
	// it is refused before any parsing.
	ErrTokenTooLarge = errors.New("token too large")
	// ErrAlgorithm: the token's alg is not one of the pinned algorithms, or
	// does not match the type of the key its kid names.
	ErrAlgorithm = errors.New("token algorithm not allowed")
	// ErrUnknownKID: no verification key has the token's kid.
	ErrUnknownKID = errors.New("unknown token key ID")
	// ErrTokenHeader: the JOSE header is one drmpipe does not understand
	// (crit, RFC 7515 §4.1.11) or reads ambiguously (a member name twice,
	// also under case folding).
	ErrTokenHeader = errors.New("unsupported token header")
	// ErrClaims: a claim is missing or malformed (jti, sub, cid, kids, tt,
	// lifetime, policy overrides), a time claim is not a JSON number, or a
	// claim name appears twice (also under case folding).
	ErrClaims = errors.New("invalid token claims")
	// ErrJWKS: a JSON Web Key Set could not be read or parsed.
	ErrJWKS = errors.New("invalid JWKS")
	// ErrConfig: a configuration value is invalid.
	ErrConfig = errors.New("invalid entitlement configuration")
	// ErrKeyFileMode: the signing key file is readable or writable by group
	// or others.
	ErrKeyFileMode = errors.New("signing key file permissions too open")
	// ErrSigningKey: the signing key file could not be read, created or
	// parsed.
	ErrSigningKey = errors.New("signing key")
	// ErrSubscriptionCallback: the operator's subscription callback failed
	// (timeout, transport error, unexpected status or body).
	ErrSubscriptionCallback = errors.New("subscription callback failed")
	// ErrGeoLookup: the client's country could not be determined because
	// the GeoIP database is missing or failed.
	ErrGeoLookup = errors.New("geoip lookup failed")
	// ErrUnavailable: a state store (Redis) could not be reached.
	ErrUnavailable = errors.New("entitlement state store unavailable")
	// ErrNotPropagated: a revocation was applied on this replica but could
	// not be handed to the shared state (Redis); the other replicas learn it
	// from the durable log at their next re-sync (RevocationSync).
	ErrNotPropagated = errors.New("revocation applied on this replica only")
	// ErrRevocation: a revocation is malformed (unknown kind, empty value,
	// bad KID).
	ErrRevocation = errors.New("invalid revocation")
	// ErrInvalidID: a user, device or token ID breaks ValidateSubjectID
	// (a token carrying one is invalid; a revocation naming one is
	// refused).
	ErrInvalidID = errors.New("invalid user, device or token ID")
	// ErrNoVerifier: Deps.Verifier was not set.
	ErrNoVerifier = errors.New("no token verifier configured")
)
