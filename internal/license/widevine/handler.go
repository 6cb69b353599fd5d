// Package widevine is the Widevine license gateway: POST /license/widevine
// takes the CDM's license challenge (raw protobuf bytes, as shaka-player,
// dash.js and hls.js send it; the service-certificate request is forwarded
// like any other challenge), authorizes the playback token and forwards the
// challenge to the configured upstream, returning its answer unchanged.
package widevine

import (
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
)

// Config configures the endpoint and its upstream.
type Config = upstream.GatewayConfig

// Deps are the endpoint's collaborators.
type Deps = upstream.GatewayDeps

// Handler serves POST /license/widevine.
type Handler = upstream.Gateway

// NewHandler returns the Widevine license handler.
func NewHandler(cfg Config, deps Deps) (*Handler, error) {
	return upstream.NewGateway(drm.Widevine, cfg, deps, nil)
}
