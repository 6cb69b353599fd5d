package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Token format: "dp_" + ID + "_" + secret, where ID is 8 random bytes in
// lower-case hex (16 characters, no "_", so the split is unambiguous even
// though the base64url alphabet has "_") and secret is 32 random bytes in
// unpadded base64url (RFC 4648 §5, 43 characters). The ID is not secret: it
// names the row to compare against and appears in lists and audit entries.
const (
	tokenPrefix = "dp_"
	idBytes     = 8
	idLen       = 2 * idBytes
	secretBytes = 32
	secretLen   = 43 // base64.RawURLEncoding.EncodedLen(secretBytes)
	// TokenLen is the length of every token.
	TokenLen = len(tokenPrefix) + idLen + 1 + secretLen
)

// SecretHash is the stored form of a token's secret: SHA-256 of its 32
// decoded bytes.
//
// A fast, unsalted hash is the right choice here, unlike for passwords: the
// secret is 256 bits from crypto/rand, so neither dictionaries nor brute
// force apply, and a leaked hash gives nothing a guess would not. A slow KDF
// (bcrypt, Argon2) would only add tens of milliseconds of CPU to every
// authenticated SPEKE and license-token request.
type SecretHash [sha256.Size]byte

// Hex returns the hash in lower-case hex.
func (h SecretHash) Hex() string { return hex.EncodeToString(h[:]) }

// ParseSecretHash parses the hex form.
func ParseSecretHash(s string) (SecretHash, error) {
	var h SecretHash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%w: secret hash is not %d hex bytes", ErrInvalid, len(h))
	}
	copy(h[:], b)
	return h, nil
}

// newToken returns a fresh token, its ID and the hash to store.
func newToken() (token, id string, h SecretHash, err error) {
	buf := make([]byte, idBytes+secretBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", "", h, fmt.Errorf("apikey: random token: %w", err)
	}
	id = hex.EncodeToString(buf[:idBytes])
	secret := buf[idBytes:]
	h = sha256.Sum256(secret)
	token = tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
	clear(buf)
	return token, id, h, nil
}

// parseToken splits a token into its ID and the hash of its secret. Every
// malformed token gives ErrUnauthenticated, without echoing it.
func parseToken(token string) (id string, h SecretHash, err error) {
	if len(token) != TokenLen || !strings.HasPrefix(token, tokenPrefix) {
		return "", h, fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	rest := token[len(tokenPrefix):]
	id, secret := rest[:idLen], rest[idLen+1:]
	if rest[idLen] != '_' || !validID(id) {
		return "", h, fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(raw) != secretBytes {
		return "", h, fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	h = sha256.Sum256(raw)
	clear(raw)
	return id, h, nil
}

// validID reports whether id is 16 lower-case hex digits.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hashesEqual compares two secret hashes in constant time (the time does
// not depend on where they differ).
func hashesEqual(a, b SecretHash) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
