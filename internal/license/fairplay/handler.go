// Package fairplay is the FairPlay Streaming license gateway: POST
// /license/fairplay takes the SPC, authorizes the playback token and
// forwards the SPC to the configured upstream (encoded the way that vendor
// expects), returning the CKC answer unchanged; GET
// /license/fairplay/certificate serves the FPS application certificate.
//
// Accepted SPC bodies (the forms players send; shaka-player's
// lib/drm/fairplay.js request transforms):
//   - raw SPC bytes (application/octet-stream; EZDRM/Conax/Mux transforms);
//   - spc=<base64 SPC> form (application/x-www-form-urlencoded; Apple's
//     sample, Verimatrix transform), other form fields ignored;
//   - JSON {"spc":"<base64 SPC>"} (application/json; Gumlet transform).
package fairplay

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
)

// Config configures the endpoint, its upstream and the certificate.
type Config struct {
	upstream.GatewayConfig
}

// Deps are the endpoint's collaborators.
type Deps = upstream.GatewayDeps

// Handler serves POST /license/fairplay (the vendor gateway, with the SPC
// decoded by DecodeSPC) and GET /license/fairplay/certificate (any path
// ending in "/certificate").
type Handler struct {
	*upstream.Gateway
	cfg Config
	now func() time.Time

	mu       sync.Mutex
	cert     []byte
	certTime time.Time
}

// NewHandler returns the FairPlay handler.
func NewHandler(cfg Config, deps Deps) (*Handler, error) {
	gw, err := upstream.NewGateway(drm.FairPlay, cfg.GatewayConfig, deps, DecodeSPC)
	if err != nil {
		return nil, err
	}
	h := &Handler{Gateway: gw, cfg: cfg, now: deps.Now}
	if h.now == nil {
		h.now = time.Now
	}
	if cfg.Upstream.CertificateTTL <= 0 {
		h.cfg.Upstream.CertificateTTL = upstream.DefaultCertificateTTL
	}
	if cfg.Upstream.CertificateFile != "" {
		if h.cert, err = os.ReadFile(cfg.Upstream.CertificateFile); err != nil {
			return nil, fmt.Errorf("%w: fairplay certificate: %w", license.ErrConfig, err)
		}
		if len(h.cert) == 0 {
			return nil, fmt.Errorf("%w: fairplay certificate file is empty", license.ErrConfig)
		}
	} else if cfg.Upstream.CertificateURL == "" {
		return nil, fmt.Errorf("%w: fairplay needs certificateFile or upstream.certificateURL", license.ErrConfig)
	}
	return h, nil
}

// ServeHTTP routes to the certificate or the license.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/certificate") {
		if err := h.certificate(w, r); err != nil {
			h.WriteError(w, r, err)
		}
		return
	}
	h.Gateway.ServeHTTP(w, r)
}

// certificate serves the FPS certificate: public, so no token, and
// cacheable by browsers and CDNs.
func (h *Handler) certificate(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return license.MethodNotAllowed(w, "GET, HEAD, OPTIONS")
	}
	cert, err := h.cachedCert(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(cert)
	}
	return nil
}

func (h *Handler) cachedCert(r *http.Request) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cert != nil && (h.cfg.Upstream.CertificateFile != "" || h.now().Sub(h.certTime) < h.cfg.Upstream.CertificateTTL) {
		return h.cert, nil
	}
	resp, err := h.Upstream().Do(r.Context(), license.Call{System: drm.FairPlay, Kind: license.CallCertificate, Header: license.PassThrough(r)})
	if err != nil {
		if h.cert != nil { // serve the stale certificate rather than fail
			return h.cert, nil
		}
		return nil, err
	}
	if len(resp.Body) == 0 {
		return nil, httperr.New(http.StatusBadGateway, httperr.CodeUpstreamError, "license server sent an empty certificate")
	}
	h.cert, h.certTime = resp.Body, h.now()
	return h.cert, nil
}

// DecodeSPC returns the SPC from any of the accepted bodies.
func DecodeSPC(r *http.Request, body []byte) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil || v.Get("spc") == "" {
			return nil, fmt.Errorf("%w: form without spc", license.ErrBadChallenge)
		}
		return decodeB64(v.Get("spc"))
	case "application/json":
		var j struct {
			SPC string `json:"spc"`
		}
		if err := json.Unmarshal(body, &j); err != nil || j.SPC == "" {
			return nil, fmt.Errorf("%w: JSON without spc", license.ErrBadChallenge)
		}
		return decodeB64(j.SPC)
	}
	return body, nil
}

// decodeB64 accepts standard and URL-safe base64, padded or not (form
// posts often turn '+' into ' ').
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.ReplaceAll(strings.TrimSpace(s), " ", "+"), "=")
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: spc is not base64", license.ErrBadChallenge)
	}
	return b, nil
}
