package entitlement

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxSubjectIDBytes bounds user (sub), device (did) and token (jti) IDs.
// 256 bytes is the bound of the audit log's target field, the durable
// record every revocation is written to first, so any ID a token may carry
// can be revoked; it holds a UUID (36), an RFC 5321 §4.5.3.1.3 e-mail path
// (256 octets) or a base64 hash with room to spare.
const MaxSubjectIDBytes = 256

// ValidateSubjectID is the one rule for the IDs a revocation names and a
// token carries: user (sub), device (did) and token (jti). An ID is 1 to
// MaxSubjectIDBytes bytes of UTF-8 whose every character is printable
// (unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the
// ASCII space; no control character such as NUL, tab or newline, no format
// character such as a bidi override or zero-width space), and that neither
// starts nor ends with a space. IDs are compared byte for byte, never
// normalised: a value breaking the rule is refused, not trimmed into a
// neighbouring ID. Errors wrap ErrInvalidID and never echo the value.
func ValidateSubjectID(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", ErrInvalidID)
	case len(s) > MaxSubjectIDBytes:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidID, len(s), MaxSubjectIDBytes)
	case s[0] == ' ' || s[len(s)-1] == ' ':
		return fmt.Errorf("%w: leading or trailing space", ErrInvalidID)
	}
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf { // ASCII: the common case, no decoding
			if b < 0x20 || b == 0x7f {
				return fmt.Errorf("%w: control character at byte %d", ErrInvalidID, i)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("%w: not UTF-8 at byte %d", ErrInvalidID, i)
		}
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: non-printing character U+%04X at byte %d", ErrInvalidID, r, i)
		}
		i += n
	}
	return nil
}
