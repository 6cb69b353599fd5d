package keys

import "fmt"

// MaxContentIDLen bounds content IDs: AWS Elemental MediaPackage sends a
// SPEKE resource ID (CPIX@contentId, CPIX@id) of 1 to 256 characters.
const MaxContentIDLen = 256

// ContentIDRule is the content ID rule in words, for error messages and
// documentation.
const ContentIDRule = `1 to 256 of the characters A-Z a-z 0-9 - _ . : and not starting with "."`

// ValidateContentID checks a content ID, the one rule for every place one
// enters drmpipe (the package, keys and token commands, SPEKE requests, the
// admin, broker and token APIs, policy configuration): 1 to
// MaxContentIDLen bytes of ASCII letters, digits, '-', '_', '.' and ':',
// not starting with '.'.
//
// A content ID names a key-store identity and, for drmpipe package, the
// directory DATA/content/ID that the origin serves. The rule makes it one
// path component that is never ".", "..", hidden, absolute or empty, and
// free of separators, NUL and control characters; it admits the SPEKE IDs
// encryptors send (MediaPackage's [0-9a-zA-Z_-]+, UUIDs, "urn:uuid:..."
// and dotted names). The error wraps ErrInvalidContentID and its text is
// safe to show a client.
func ValidateContentID(id string) error {
	if id == "" || len(id) > MaxContentIDLen {
		return fmt.Errorf("%w: has %d bytes; want %s", ErrInvalidContentID, len(id), ContentIDRule)
	}
	if id[0] == '.' {
		return fmt.Errorf("%w: %q starts with \".\"; want %s", ErrInvalidContentID, id, ContentIDRule)
	}
	for i := 0; i < len(id); i++ {
		if !contentIDByte(id[i]) {
			return fmt.Errorf("%w: %q has %q at byte %d; want %s", ErrInvalidContentID, id, id[i], i, ContentIDRule)
		}
	}
	return nil
}

func contentIDByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '_' || c == '.' || c == ':'
}
