package fairplay

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// DecodeSPC returns the Server Playback Context (FairPlay Streaming's
// license challenge) from a license request body of the given content
// type, in any of the forms players send it (shaka-player's
// lib/drm/fairplay.js request transforms):
//   - raw SPC bytes (application/octet-stream, or any other type; the
//     EZDRM, Conax and Mux transforms);
//   - spc=<base64 SPC> form (application/x-www-form-urlencoded; Apple's
//     sample, the Verimatrix transform), other form fields ignored;
//   - JSON {"spc":"<base64 SPC>"} (application/json; the Gumlet transform).
//
// A form or JSON body without a base64 spc is refused with an error
// wrapping drm.ErrBadChallenge.
func DecodeSPC(contentType string, body []byte) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil || v.Get("spc") == "" {
			return nil, fmt.Errorf("%w: form without spc", drm.ErrBadChallenge)
		}
		return decodeB64(v.Get("spc"))
	case "application/json":
		var j struct {
			SPC string `json:"spc"`
		}
		if err := json.Unmarshal(body, &j); err != nil || j.SPC == "" {
			return nil, fmt.Errorf("%w: JSON without spc", drm.ErrBadChallenge)
		}
		return decodeB64(j.SPC)
	}
	return body, nil
}

// decodeB64 accepts standard and URL-safe base64 (RFC 4648 §4 and §5),
// padded or not (form posts often turn '+' into ' ').
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.ReplaceAll(strings.TrimSpace(s), " ", "+"), "=")
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: spc is not base64", drm.ErrBadChallenge)
	}
	return b, nil
}
