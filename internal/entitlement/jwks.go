package entitlement

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// Signing algorithms a Verifier may accept (RFC 7518 §3.1, RFC 8037 §3.1).
// HMAC algorithms and "none" are never accepted.
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgEdDSA = "EdDSA"
)

// minRSABits is the smallest RSA modulus accepted for RS256.
const minRSABits = 2048

// maxJWKSSize bounds a JWKS document.
const maxJWKSSize = 1 << 20

// PublicKey is one verification key of a key set.
type PublicKey struct {
	KID string
	// Alg is the JWK "alg" member; empty when the JWK does not restrict it.
	Alg string
	Key crypto.PublicKey // *ecdsa.PublicKey (P-256), *rsa.PublicKey or ed25519.PublicKey
}

// allows reports whether the key may verify a token signed with alg: the
// key type must fit the algorithm (this is what defeats algorithm
// confusion), and a JWK "alg" member, if present, must equal it.
func (k PublicKey) allows(alg string) bool {
	if k.Alg != "" && k.Alg != alg {
		return false
	}
	switch key := k.Key.(type) {
	case *ecdsa.PublicKey:
		return alg == AlgES256 && key.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return alg == AlgRS256 && key.N.BitLen() >= minRSABits
	case ed25519.PublicKey:
		return alg == AlgEdDSA && len(key) == ed25519.PublicKeySize
	}
	return false
}

// jwk is the JSON form of a public JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	// D is only read to refuse a private key published by mistake.
	D string `json:"d,omitempty"`
}

type jwkSet struct {
	Keys []json.RawMessage `json:"keys"`
}

var b64 = base64.RawURLEncoding

// ParseJWKS parses a JSON Web Key Set (RFC 7517 §5). Keys of unsupported
// types (oct, other curves), keys with "use" other than "sig", and keys
// holding private parts are refused with an error rather than skipped, so
// a misconfigured set is noticed at load time. Keys without "kid" get their
// RFC 7638 thumbprint as kid.
func ParseJWKS(data []byte) ([]PublicKey, error) {
	if len(data) > maxJWKSSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrJWKS, len(data), maxJWKSSize)
	}
	var set jwkSet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJWKS, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrJWKS)
	}
	out := make([]PublicKey, 0, len(set.Keys))
	seen := map[string]bool{}
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrJWKS, i, err)
		}
		k, err := j.publicKey()
		if err != nil {
			return nil, fmt.Errorf("%w: key %d (kid %q): %w", ErrJWKS, i, j.Kid, err)
		}
		if seen[k.KID] {
			return nil, fmt.Errorf("%w: duplicate kid %q", ErrJWKS, k.KID)
		}
		seen[k.KID] = true
		out = append(out, k)
	}
	return out, nil
}

func (j jwk) publicKey() (PublicKey, error) {
	if j.D != "" {
		return PublicKey{}, fmt.Errorf("JWK holds a private key")
	}
	if j.Use != "" && j.Use != "sig" {
		return PublicKey{}, fmt.Errorf("use %q is not sig", j.Use)
	}
	switch j.Alg {
	case "", AlgES256, AlgRS256, AlgEdDSA:
	default:
		return PublicKey{}, fmt.Errorf("unsupported alg %q", j.Alg)
	}
	k := PublicKey{KID: j.Kid, Alg: j.Alg}
	switch j.Kty {
	case "EC":
		if j.Crv != "P-256" {
			return k, fmt.Errorf("unsupported curve %q", j.Crv)
		}
		x, err1 := b64.DecodeString(j.X)
		y, err2 := b64.DecodeString(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return k, fmt.Errorf("bad P-256 coordinates")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return k, fmt.Errorf("bad P-256 point")
		}
		k.Key = pub
	case "RSA":
		n, err1 := b64.DecodeString(j.N)
		e, err2 := b64.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return k, fmt.Errorf("bad RSA modulus or exponent")
		}
		var ev int
		for _, b := range e {
			ev = ev<<8 | int(b)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}
		if pub.N.BitLen() < minRSABits || ev < 3 || ev%2 == 0 {
			return k, fmt.Errorf("RSA key weaker than %d bits or bad exponent", minRSABits)
		}
		k.Key = pub
	case "OKP":
		if j.Crv != "Ed25519" {
			return k, fmt.Errorf("unsupported OKP curve %q", j.Crv)
		}
		x, err := b64.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return k, fmt.Errorf("bad Ed25519 key")
		}
		k.Key = ed25519.PublicKey(x)
	default:
		return k, fmt.Errorf("unsupported kty %q", j.Kty)
	}
	if k.KID == "" {
		k.KID = Thumbprint(k.Key)
	}
	return k, nil
}

// jwkOf returns the public JWK of key (RFC 7518 §6, RFC 8037 §2).
func jwkOf(key crypto.PublicKey) (jwk, error) {
	switch key := key.(type) {
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return jwk{}, fmt.Errorf("%w: only P-256 EC keys", ErrConfig)
		}
		b, err := key.Bytes()
		if err != nil {
			return jwk{}, err
		}
		return jwk{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(b[1:33]), Y: b64.EncodeToString(b[33:65])}, nil
	case *rsa.PublicKey:
		return jwk{Kty: "RSA", N: b64.EncodeToString(key.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(key.E)).Bytes())}, nil
	case ed25519.PublicKey:
		return jwk{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(key)}, nil
	}
	return jwk{}, fmt.Errorf("%w: unsupported key type %T", ErrConfig, key)
}

// Thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of a
// public key, or "" for an unsupported key type. drmpipe uses it as kid.
func Thumbprint(key crypto.PublicKey) string {
	j, err := jwkOf(key)
	if err != nil {
		return ""
	}
	// RFC 7638 §3.2: only the required members, in lexicographic order,
	// without whitespace.
	var buf bytes.Buffer
	switch j.Kty {
	case "EC":
		fmt.Fprintf(&buf, `{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	case "RSA":
		fmt.Fprintf(&buf, `{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	case "OKP":
		fmt.Fprintf(&buf, `{"crv":%q,"kty":"OKP","x":%q}`, j.Crv, j.X)
	}
	sum := sha256.Sum256(buf.Bytes())
	return b64.EncodeToString(sum[:])
}

// MarshalJWKS returns the JWKS document (RFC 7517 §5) of public keys, each
// with "use":"sig" and its kid and alg.
func MarshalJWKS(pubs []PublicKey) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, p := range pubs {
		j, err := jwkOf(p.Key)
		if err != nil {
			return nil, err
		}
		j.Kid, j.Alg, j.Use = p.KID, p.Alg, "sig"
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}
