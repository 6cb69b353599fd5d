package upstream

import (
	"fmt"

	"github.com/drmpipe/drmpipe/internal/confcheck"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/fairplay"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
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

// decoders are the challenge decoders of the vendor DRMs: Widevine's CDM
// message is forwarded as the raw bytes players send (the service
// certificate request too).
var decoders = map[drm.System]license.ChallengeDecoder{
	drm.Widevine:  nil,
	drm.PlayReady: playready.DecodeChallenge,
	drm.FairPlay:  fairplay.DecodeSPC,
}

// NewGateway builds the license gateway of system (POST /license/<drm>)
// in front of a resilient Client for cfg.Upstream, and returns both (the
// Client for its breaker state). Challenges are decoded by drm/<system>;
// a FairPlay gateway also serves the FPS certificate (from
// Upstream.CertificateFile, else Upstream.CertificateURL).
func NewGateway(system drm.System, cfg GatewayConfig, deps GatewayDeps) (*license.Gateway, *Client, error) {
	decode, ok := decoders[system]
	if !ok {
		return nil, nil, fmt.Errorf("%w: no license gateway for %s", ErrConfig, system)
	}
	ep, err := license.NewEndpoint(cfg.EndpointConfig, system, deps.Deps)
	if err != nil {
		return nil, nil, err
	}
	if deps.Upstream.Log == nil {
		deps.Upstream.Log = deps.Log
	}
	c, err := New(cfg.Upstream, deps.Upstream)
	if err != nil {
		return nil, nil, err
	}
	gw := license.NewGateway(ep, c, decode)
	if system == drm.FairPlay {
		up := cfg.Upstream
		if up.CertificateFile == "" && up.CertificateURL == "" {
			return nil, nil, fmt.Errorf("%w: fairplay needs certificateFile or upstream.certificateURL", license.ErrConfig)
		}
		up.CertificateTTL = confcheck.PositiveOr(up.CertificateTTL, DefaultCertificateTTL)
		if err := gw.ServeCertificate(up.CertificateFile, up.CertificateTTL); err != nil {
			return nil, nil, err
		}
	}
	return gw, c, nil
}
