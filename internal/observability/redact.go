package observability

import (
	"regexp"
	"strings"
)

// Mask is what a redacted value is replaced with, in logs, spans and the
// printed configuration.
const Mask = "******"

// secretPatterns match substrings that look like credentials or key
// material, whatever attribute they appear under. They are deliberately
// broad: a false positive costs a masked log value, a false negative leaks
// a secret.
var secretPatterns = []*regexp.Regexp{
	// JWT / JWS compact serialisation (RFC 7515 §7.1): base64url of a JSON
	// header, which always starts with `{"` = "eyJ", then a dot.
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)?`),
	// HTTP credentials (RFC 6750 §2.1 Bearer, RFC 7617 Basic).
	regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+`),
	// 128-bit or longer keys in hex (content keys, KEKs, HMAC keys). Also
	// matches KIDs and trace IDs; those are logged under allow-listed
	// attribute names (see publicKeys).
	regexp.MustCompile(`\b[0-9a-fA-F]{32,}\b`),
	// 16-byte keys in padded base64 (24 chars ending in ==), 32-byte keys
	// (44 chars ending in =), std or URL alphabet.
	regexp.MustCompile(`[A-Za-z0-9+/_-]{22}==`),
	regexp.MustCompile(`[A-Za-z0-9+/_-]{43}=`),
	// PEM private keys.
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`),
}

// mayHoldSecret is a cheap filter in front of secretPatterns (every log
// line passes here): a string shorter than the shortest key encoding (22
// characters) can only match the JWT or credential patterns, which need
// "eyJ", "bearer" or "basic".
func mayHoldSecret(s string) bool {
	if len(s) >= 22 {
		return true
	}
	if strings.Contains(s, "eyJ") {
		return true
	}
	if !strings.ContainsAny(s, "bB") {
		return false
	}
	l := strings.ToLower(s)
	return strings.Contains(l, "bearer") || strings.Contains(l, "basic")
}

// secretKeyNames are attribute names (lower case) whose value is always
// masked, whatever it looks like.
var secretKeyNames = map[string]bool{
	"token": true, "key": true, "password": true, "passwd": true, "pin": true,
	"authorization": true, "secret": true, "credential": true, "credentials": true,
	"cookie": true, "set-cookie": true, "private_key": true, "api_key": true,
	"apikey": true, "access_token": true, "id_token": true, "refresh_token": true,
	"client_secret": true, "hmac_key": true, "content_key": true, "kek": true,
	"x-axdrm-message": true, "x-dt-custom-data": true, "x-dt-auth-token": true,
}

// secretKeySuffixes catch compound names such as "vendor_token",
// "signing_key" or "db.password".
var secretKeySuffixes = []string{"token", "key", "password", "secret", "pin", "authorization", "credential", "credentials"}

// publicKeys are attribute names whose values are identifiers that look
// like keys (32 hex digits) but are public: key IDs appear in every
// manifest, trace and request IDs are correlation handles.
var publicKeys = map[string]bool{
	"kid": true, "kids": true, "key_id": true, "keyid": true, "default_kid": true,
	"trace_id": true, "span_id": true, "request_id": true, "trace.id": true, "span.id": true,
}

// IsSecretKey reports whether an attribute or field name denotes a secret
// (token, key, password, pin, authorization and compounds of them such as
// "vendor_token" or "signing-key"). Names ending in an identifier suffix
// ("key_id", "token_header") are not secret.
func IsSecretKey(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" || publicKeys[n] {
		return false
	}
	if secretKeyNames[n] {
		return true
	}
	// Last segment of a dotted, dashed or underscored name.
	seg := n
	if i := strings.LastIndexAny(n, "._-"); i >= 0 {
		seg = n[i+1:]
	}
	for _, s := range secretKeySuffixes {
		if seg == s || (seg != n && strings.HasSuffix(seg, s) && len(seg) > len(s)) {
			return true
		}
	}
	return false
}

// LooksSecret reports whether s contains something that looks like a
// credential or key material: a JWT, a Bearer/Basic credential, 32 or more
// hex digits, a base64 16- or 32-byte key, or a PEM private key.
func LooksSecret(s string) bool {
	if !mayHoldSecret(s) {
		return false
	}
	for _, re := range secretPatterns {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// RedactString replaces every secret-looking substring of s with Mask and
// leaves the rest, so a message keeps its context.
func RedactString(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	for _, re := range secretPatterns {
		s = re.ReplaceAllString(s, Mask)
	}
	return s
}

// redactValue masks v if the attribute name is secret, or scrubs
// secret-looking substrings otherwise; values under public identifier names
// are kept.
func redactValue(name, v string) string {
	switch {
	case IsSecretKey(name):
		if v == "" {
			return v
		}
		return Mask
	case publicKeys[strings.ToLower(name)]:
		return v
	default:
		return RedactString(v)
	}
}
