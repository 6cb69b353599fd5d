// Package widevine is the Widevine license gateway: POST /license/widevine
// takes the CDM's license challenge (raw protobuf bytes, as shaka-player,
// dash.js and hls.js send it; the service-certificate request is forwarded
// like any other challenge), authorizes the playback token and forwards the
// challenge to the configured upstream, returning its answer unchanged.
package widevine

import (
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

// Handler serves POST /license/widevine.
type Handler struct {
	*license.Gateway
	client *upstream.Client
}

// NewHandler returns the Widevine license handler.
func NewHandler(cfg Config, deps Deps) (*Handler, error) {
	ep, err := license.NewEndpoint(cfg.EndpointConfig, drm.Widevine, deps.Deps)
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
	return &Handler{Gateway: license.NewGateway(ep, c, nil), client: c}, nil
}

// Upstream is the resilient upstream client (breaker state for health).
func (h *Handler) Upstream() *upstream.Client { return h.client }
