// Package clearkey holds the W3C EME Clear Key data formats: the license
// request ("kids" JSON), the license (a JWK Set) and the base64url key ID
// encoding. Data formats only: the license server lives in license.
package clearkey

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// Session types of the license request (W3C EME §9.1.3, MediaKeySessionType).
const (
	TypeTemporary  = "temporary"
	TypePersistent = "persistent-license"
)

// LicenseRequest is the Clear Key license request message (W3C EME §9.1.3
// "License Request Format"); also the "keyids" init data format.
type LicenseRequest struct {
	KIDs []string `json:"kids"`
	Type string   `json:"type,omitempty"`
}

// JWK is one symmetric key of a Clear Key license (W3C EME §9.1.4, RFC 7517).
type JWK struct {
	Kty string `json:"kty"`
	K   string `json:"k"`
	Kid string `json:"kid"`
}

// LicenseResponse is a Clear Key license: a JSON Web Key Set (W3C EME §9.1.4
// "License Format").
type LicenseResponse struct {
	Keys []JWK  `json:"keys"`
	Type string `json:"type,omitempty"`
}

// EncodeKID returns the base64url (no padding) form of k used in "kids" and
// JWK "kid" (W3C EME §9.1.3).
func EncodeKID(k drm.KeyID) string { return base64.RawURLEncoding.EncodeToString(k[:]) }

// DecodeKID accepts base64url with or without padding (some CDMs and servers
// pad; dash.js's ClearKey server code strips the '=') and requires 16 bytes.
func DecodeKID(s string) (drm.KeyID, error) {
	var k drm.KeyID
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return k, fmt.Errorf("%w: %w: kid %q is not base64url", drm.ErrInvalid, ErrInvalid, s)
	}
	if len(b) != 16 {
		return k, fmt.Errorf("%w: %w: kid %q decodes to %d bytes, want 16", drm.ErrInvalid, ErrInvalid, s, len(b))
	}
	copy(k[:], b)
	return k, nil
}

// NewJWK returns the JWK for a content key: kty "oct", k and kid base64url
// without padding.
func NewJWK(kid drm.KeyID, key []byte) JWK {
	return JWK{Kty: "oct", K: base64.RawURLEncoding.EncodeToString(key), Kid: EncodeKID(kid)}
}

// UnmarshalLicenseRequest parses a license request and decodes its KIDs.
// An empty kids list is an error.
func UnmarshalLicenseRequest(b []byte) (LicenseRequest, []drm.KeyID, error) {
	var r LicenseRequest
	if err := json.Unmarshal(b, &r); err != nil {
		return r, nil, fmt.Errorf("%w: %w: license request: %w", drm.ErrInvalid, ErrInvalid, err)
	}
	if len(r.KIDs) == 0 {
		return r, nil, fmt.Errorf("%w: %w: license request without kids", drm.ErrInvalid, ErrInvalid)
	}
	kids := make([]drm.KeyID, 0, len(r.KIDs))
	for _, s := range r.KIDs {
		k, err := DecodeKID(s)
		if err != nil {
			return r, nil, err
		}
		kids = append(kids, k)
	}
	return r, kids, nil
}
