package upstream

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
)

// signJWT returns a compact JWS (RFC 7515 §7.1) of claims with an HMAC
// algorithm (RFC 7518 §3.2): "HS256" or "HS512".
func signJWT(alg string, key []byte, claims any) (string, error) {
	var h func() hash.Hash
	switch alg {
	case "HS256":
		h = sha256.New
	case "HS512":
		h = sha512.New
	default:
		return "", fmt.Errorf("%w: JWT algorithm %q", ErrConfig, alg)
	}
	hdr, err := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	m := hmac.New(h, key)
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil)), nil
}
