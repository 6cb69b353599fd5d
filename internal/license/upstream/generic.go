package upstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/license"
)

// generic forwards the challenge unchanged with the configured headers and
// query parameters, and returns the answer unchanged.
type generic struct{ cfg Config }

func (g *generic) request(ctx context.Context, call license.Call) (*http.Request, error) {
	return challengeRequest(ctx, g.cfg, call, nil, g.cfg.FairPlayBody)
}

func (g *generic) response(_ license.Call, resp license.Response) (license.Response, error) {
	return resp, nil
}

// challengeRequest builds the POST of a challenge (or the GET of a FairPlay
// certificate) with the body and content type each DRM's license servers
// expect: Widevine raw bytes as application/octet-stream, PlayReady SOAP
// XML as text/xml; charset=utf-8 (as shaka-player's lib/drm/drm_engine.js
// sends the unwrapped challenge), FairPlay SPC as enc says.
func challengeRequest(ctx context.Context, cfg Config, call license.Call, query url.Values, enc BodyEncoding) (*http.Request, error) {
	if call.Kind == license.CallCertificate {
		if cfg.CertificateURL == "" {
			return nil, fmt.Errorf("%w: no certificateURL", ErrConfig)
		}
		return cfg.newRequest(ctx, http.MethodGet, cfg.CertificateURL, query, nil, "")
	}
	if cfg.URL == "" {
		return nil, fmt.Errorf("%w: no license url", ErrConfig)
	}
	body, ct, err := encodeChallenge(call, enc)
	if err != nil {
		return nil, err
	}
	return cfg.newRequest(ctx, http.MethodPost, cfg.URL, query, body, ct)
}

func encodeChallenge(call license.Call, enc BodyEncoding) ([]byte, string, error) {
	switch call.System {
	case drm.PlayReady:
		return call.Challenge, "text/xml; charset=utf-8", nil
	case drm.FairPlay:
		switch enc {
		case BodyForm:
			return []byte(url.Values{"spc": {base64.StdEncoding.EncodeToString(call.Challenge)}}.Encode()), "application/x-www-form-urlencoded", nil
		case BodyJSON:
			b, err := json.Marshal(map[string]string{"spc": base64.StdEncoding.EncodeToString(call.Challenge)})
			return b, "application/json", err
		case BodyRaw:
		}
	default: // Widevine: the challenge bytes as they are
	}
	return call.Challenge, "application/octet-stream", nil
}
