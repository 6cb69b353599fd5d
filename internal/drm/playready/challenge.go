package playready

import (
	"bytes"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// DecodeChallenge checks a PlayReady license request body: the SOAP
// AcquireLicense XML (optionally after a UTF-8 BOM and white space), which
// players send after unwrapping the CDM's UTF-16 PlayReadyKeyMessage (W3C
// EME "com.microsoft.playready" key message; shaka-player, dash.js and
// hls.js all unwrap it). It returns the body unchanged; anything else,
// such as a still-wrapped key message, is refused with an error wrapping
// drm.ErrBadChallenge.
func DecodeChallenge(_ string, body []byte) ([]byte, error) {
	b := bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if !bytes.HasPrefix(b, []byte("<")) {
		return nil, fmt.Errorf("%w: PlayReady challenge is not XML", drm.ErrBadChallenge)
	}
	return body, nil
}
