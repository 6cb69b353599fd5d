// Package playready is the PlayReady license gateway: POST
// /license/playready takes the SOAP AcquireLicense challenge (the XML body
// players send after unwrapping the CDM's PlayReadyKeyMessage, with its
// SOAPAction header, as shaka-player's lib/drm/drm_engine.js and dash.js's
// KeySystemPlayReady.js unwrap it), authorizes the playback
// token and forwards the challenge and SOAPAction to the configured
// upstream, returning its answer unchanged.
package playready

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
)

// Config configures the endpoint and its upstream.
type Config = upstream.GatewayConfig

// Deps are the endpoint's collaborators.
type Deps = upstream.GatewayDeps

// Handler serves POST /license/playready.
type Handler = upstream.Gateway

// NewHandler returns the PlayReady license handler.
func NewHandler(cfg Config, deps Deps) (*Handler, error) {
	return upstream.NewGateway(drm.PlayReady, cfg, deps, DecodeChallenge)
}

// DecodeChallenge accepts the SOAP XML challenge (optionally after a UTF-8
// BOM). A still-wrapped UTF-16 PlayReadyKeyMessage is refused: players
// unwrap it (shaka-player, dash.js, hls.js all do).
func DecodeChallenge(_ *http.Request, body []byte) ([]byte, error) {
	b := bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if !bytes.HasPrefix(b, []byte("<")) {
		return nil, fmt.Errorf("%w: PlayReady challenge is not XML", license.ErrBadChallenge)
	}
	return body, nil
}
