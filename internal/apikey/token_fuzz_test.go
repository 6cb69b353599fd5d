package apikey

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// FuzzParseToken checks API key token parsing on any bearer value: it never
// panics; a refusal wraps ErrUnauthenticated and quotes nothing of the
// value; an accepted token is exactly "dp_" + its ID + "_" + the canonical
// (strict, unpadded) base64url of a 32-byte secret whose SHA-256 is the
// returned hash, so one secret has one token. The committed corpus
// (testdata/fuzz/FuzzParseToken) holds a generated token and the malformed
// ones of TestTokenFormat.
func FuzzParseToken(f *testing.F) {
	tok, _, _, err := newToken()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{tok, tok[:len(tok)-1] + "=", "dp_" + strings.Repeat("A", 16) + "_" + tok[20:], "Bearer " + tok, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, h, err := parseToken(s)
		if err != nil {
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("refusal does not wrap ErrUnauthenticated: %v", err)
			}
			if len(s) >= 8 && strings.Contains(err.Error(), s[len(s)/2:]) {
				t.Fatalf("refusal quotes the token: %v", err)
			}
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(s[len(tokenPrefix)+idLen+1:])
		if err != nil || len(raw) != secretBytes {
			t.Fatalf("accepted %q with a secret of %d bytes (%v)", s, len(raw), err)
		}
		if canon := tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(raw); canon != s {
			t.Fatalf("accepted %q, whose canonical form is %q", s, canon)
		}
		if h != sha256.Sum256(raw) || !validID(id) {
			t.Fatalf("accepted %q as id %q with another hash", s, id)
		}
	})
}
