package license

import (
	"context"
	"net/http"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
)

// ChallengeDecoder extracts the CDM challenge from a request body (players
// wrap it in different ways) and returns it with the player's content type.
type ChallengeDecoder func(r *http.Request, body []byte) ([]byte, error)

// Gateway is the license endpoint of a vendor DRM (Widevine, PlayReady,
// FairPlay): it authorizes the token (no KIDs: the challenge is opaque),
// then forwards the challenge to the upstream and returns its answer
// unchanged, through the cache and single-flight.
type Gateway struct {
	ep     *Endpoint
	up     Upstream
	decode ChallengeDecoder
}

// NewGateway returns a Gateway; decode nil forwards the body as is.
func NewGateway(ep *Endpoint, up Upstream, decode ChallengeDecoder) *Gateway {
	if decode == nil {
		decode = func(_ *http.Request, b []byte) ([]byte, error) { return b, nil }
	}
	return &Gateway{ep: ep, up: up, decode: decode}
}

// WriteError writes err in the error schema, as the endpoint's own errors.
func (g *Gateway) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	g.ep.WriteError(w, r, err)
}

// ServeHTTP serves POST with a challenge.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := g.serve(w, r); err != nil {
		g.ep.WriteError(w, r, err)
	}
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return MethodNotAllowed(w, "POST, OPTIONS")
	}
	adm, err := g.ep.Admit(w, r)
	if err != nil {
		return err
	}
	challenge, err := g.decode(r, adm.Body)
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
