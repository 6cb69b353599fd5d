package license

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
)

// ChallengeDecoder extracts the CDM challenge from a request body of the
// given Content-Type (players wrap it in different ways). The decoders of
// each DRM are in drm/<system>; they wrap drm.ErrBadChallenge.
type ChallengeDecoder func(contentType string, body []byte) ([]byte, error)

// Gateway is the license endpoint of a vendor DRM (Widevine, PlayReady,
// FairPlay): it authorizes the token (no KIDs: the challenge is opaque),
// then forwards the challenge to the upstream and returns its answer
// unchanged, through the cache and single-flight. With a certificate
// (ServeCertificate) it also answers GET .../certificate (FairPlay).
type Gateway struct {
	ep     *Endpoint
	up     Upstream
	decode ChallengeDecoder
	cert   *certificate
}

// NewGateway returns a Gateway; decode nil forwards the body as is.
func NewGateway(ep *Endpoint, up Upstream, decode ChallengeDecoder) *Gateway {
	if decode == nil {
		decode = func(_ string, b []byte) ([]byte, error) { return b, nil }
	}
	return &Gateway{ep: ep, up: up, decode: decode}
}

// ServeCertificate makes the gateway answer GET and HEAD on any path
// ending in "/certificate" with the FairPlay Streaming application
// certificate: read from file once when file is set, else asked from the
// upstream (a CallCertificate) and kept for ttl.
func (g *Gateway) ServeCertificate(file string, ttl time.Duration) error {
	c := &certificate{up: g.up, file: file != "", ttl: ttl, now: g.ep.deps.Now}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%w: fairplay certificate: %w", ErrConfig, err)
		}
		if len(b) == 0 {
			return fmt.Errorf("%w: fairplay certificate file is empty", ErrConfig)
		}
		c.cert = b
	}
	g.cert = c
	return nil
}

// ServeHTTP serves POST with a challenge, and the certificate when set.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serve := g.serve
	if g.cert != nil && strings.HasSuffix(r.URL.Path, "/certificate") {
		serve = g.cert.serve
	}
	if err := serve(w, r); err != nil {
		g.ep.WriteError(w, r, err)
	}
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) error {
	adm, err := g.ep.Admit(w, r)
	if err != nil {
		return err
	}
	challenge, err := g.decode(r.Header.Get("Content-Type"), adm.Body)
	if err != nil {
		return httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, "malformed license challenge")
	}
	if len(challenge) == 0 {
		return httperr.New(http.StatusBadRequest, httperr.CodeInvalidRequest, "empty license challenge")
	}
	dec, err := g.ep.Authorize(r.Context(), adm, entitlement.Request{})
	if err != nil {
		return err
	}
	call := Call{System: g.ep.system, Kind: CallLicense, Challenge: challenge, ContentType: r.Header.Get("Content-Type"), Header: PassThrough(r), Decision: dec}
	resp, err := g.ep.Serve(r.Context(), challenge, dec, true, func(ctx context.Context) (Response, error) {
		return g.up.Do(ctx, call)
	})
	if err != nil {
		return err
	}
	WriteResponse(w, resp)
	return nil
}

// certificate serves the FPS application certificate: public, so no
// token, and cacheable by browsers and CDNs.
type certificate struct {
	up   Upstream
	file bool
	ttl  time.Duration
	now  func() time.Time

	mu       sync.Mutex
	cert     []byte
	certTime time.Time
}

func (c *certificate) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return MethodNotAllowed(w, "GET, HEAD, OPTIONS")
	}
	cert, err := c.get(r)
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

func (c *certificate) get(r *http.Request) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert != nil && (c.file || c.now().Sub(c.certTime) < c.ttl) {
		return c.cert, nil
	}
	resp, err := c.up.Do(r.Context(), Call{System: drm.FairPlay, Kind: CallCertificate, Header: PassThrough(r)})
	if err != nil {
		if c.cert != nil { // serve the stale certificate rather than fail
			return c.cert, nil
		}
		return nil, err
	}
	if len(resp.Body) == 0 {
		return nil, httperr.New(http.StatusBadGateway, httperr.CodeUpstreamError, "license server sent an empty certificate")
	}
	c.cert, c.certTime = resp.Body, c.now()
	return c.cert, nil
}
