// Package fairplay holds the FairPlay Streaming data formats: the skd://
// key URI used in HLS (its EXT-X-KEY KEYFORMAT and METHOD are in
// drm/signaling) and the SPC license request bodies players send (DecodeSPC).
// FairPlay needs no pssh box: HLS names the key by that URI (Apple, "Using
// content protection systems with HLS").
package fairplay

import (
	"fmt"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// scheme starts every FairPlay key URI (Apple, "Using content protection
// systems with HLS").
const scheme = "skd://"

// KeyURI returns the EXT-X-KEY URI for kid. An empty template gives
// "skd://" + the 32 lowercase hex digits of the KID; "{kid}" in a template is
// replaced by the hex KID and "{kid_uuid}" by the 8-4-4-4-12 form; a template
// without placeholders is used as given.
func KeyURI(template string, kid drm.KeyID) string {
	if template == "" {
		return scheme + kid.Hex()
	}
	r := strings.NewReplacer("{kid_uuid}", kid.String(), "{kid}", kid.Hex())
	return r.Replace(template)
}

// ValidateKeyURI checks that s is an skd:// URI with a non-empty key
// identifier (the identifier itself is opaque to everyone but the key server).
func ValidateKeyURI(s string) error {
	if !strings.HasPrefix(strings.ToLower(s), scheme) {
		return fmt.Errorf("%w: %q does not start with %q", ErrInvalidKeyURI, s, scheme)
	}
	if len(s) == len(scheme) {
		return fmt.Errorf("%w: %q has no key identifier", ErrInvalidKeyURI, s)
	}
	return nil
}
