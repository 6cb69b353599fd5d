package upstream

import (
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/license"
)

// GatewayConfig configures a vendor gateway endpoint and its upstream.
type GatewayConfig struct {
	license.EndpointConfig
	Upstream Config
}

// GatewayDeps are a gateway endpoint's collaborators.
type GatewayDeps struct {
	license.Deps
	Upstream Deps
}

// Gateway is a license endpoint that forwards challenges to a vendor
// upstream through the resilient Client.
type Gateway struct {
	*license.Gateway
	client *Client
}

// NewGateway builds the gateway endpoint of system; decode extracts the
// challenge from the request body (nil = the body as is).
func NewGateway(system drm.System, cfg GatewayConfig, deps GatewayDeps, decode license.ChallengeDecoder) (*Gateway, error) {
	ep, err := license.NewEndpoint(cfg.EndpointConfig, system, deps.Deps)
	if err != nil {
		return nil, err
	}
	if deps.Upstream.Log == nil {
		deps.Upstream.Log = deps.Log
	}
	c, err := New(cfg.Upstream, deps.Upstream)
	if err != nil {
		return nil, err
	}
	return &Gateway{Gateway: license.NewGateway(ep, c, decode), client: c}, nil
}

// Upstream is the resilient upstream client (breaker state for metrics).
func (g *Gateway) Upstream() *Client { return g.client }
