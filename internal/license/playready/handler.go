// Package playready is the PlayReady license gateway: POST
// /license/playready takes the SOAP AcquireLicense challenge (the XML body
// players send after unwrapping the CDM's PlayReadyKeyMessage, with its
// SOAPAction header; drm-specs.md §6.2, §7.8), authorizes the playback
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
type Config struct {
	license.EndpointConfig `yaml:",inline"`
	Upstream               upstream.Config `yaml:"upstream" json:"upstream"`
}

// Deps are the endpoint's collaborators.
type Deps struct {
	license.Deps
	Upstream upstream.Deps
}

// Handler serves POST /license/playready.
type Handler struct {
	*license.Gateway
	client *upstream.Client
}

// NewHandler returns the PlayReady license handler.
func NewHandler(cfg Config, deps Deps) (*Handler, error) {
	ep, err := license.NewEndpoint(cfg.EndpointConfig, drm.PlayReady, deps.Deps)
	if err != nil {
		return nil, err
	}
	if deps.Upstream.Log == nil {
		deps.Upstream.Log = deps.Log
	}
	c, err := upstream.New(cfg.Upstream, deps.Upstream)
	if err != nil {
		return nil, err
	}
	return &Handler{Gateway: license.NewGateway(ep, c, DecodeChallenge), client: c}, nil
}

// Upstream is the resilient upstream client.
func (h *Handler) Upstream() *upstream.Client { return h.client }

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
