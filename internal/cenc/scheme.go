// Package cenc implements ISO/IEC 23001-7 (Common Encryption) sample
// encryption on bytes: the cenc (AES-CTR) and cbcs (AES-CBC 1:9 pattern)
// schemes, and the subsample maps for NAL-structured video. It knows nothing
// of boxes; the packager writes tenc/senc/saiz/saio from what it returns.
package cenc

import (
	"github.com/drmpipe/drmpipe/internal/enum"
)

// Scheme is a protection scheme_type (ISO/IEC 23001-7 §4.2).
type Scheme uint8

// The supported schemes.
const (
	CENC Scheme = iota + 1 // AES-128 CTR, full sample or subsample (§10.1)
	CBCS                   // AES-128 CBC, pattern 1:9 for video, constant IV (§10.4)
)

var schemeNames = enum.Names[Scheme]{CENC: "cenc", CBCS: "cbcs"}

// String returns the scheme's four-character code.
func (s Scheme) String() string { return schemeNames.String(s) }

// ParseScheme parses "cenc" or "cbcs", case-insensitively.
func ParseScheme(s string) (Scheme, error) {
	return schemeNames.Parse(s, ErrUnknownScheme, "")
}
