package admin

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// Authenticator checks an API credential for a scope ("speke", "admin",
// "license-token"); apikey.HTTPAuthenticator implements it.
type Authenticator interface {
	Authenticate(r *http.Request, scope string) (principal string, err error)
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	User       string   `json:"user"`
	Content    string   `json:"content"`
	Device     string   `json:"device,omitempty"`
	TTL        string   `json:"ttl,omitempty"` // Go duration, at most the verifier's max lifetime
	KIDs       []string `json:"kids,omitempty"`
	TrackTypes []string `json:"trackTypes,omitempty"`
}

// TokenResponse is the answer of the token endpoints.
type TokenResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// TokenHandlers mint playback tokens with drmpipe's own signing key.
type TokenHandlers struct {
	signer *entitlement.Signer
	auth   Authenticator
	maxTTL time.Duration
	log    *slog.Logger
}

// NewTokenHandlers mints tokens with signer, living at most maxTTL
// (tokens.max_lifetime).
func NewTokenHandlers(signer *entitlement.Signer, auth Authenticator, maxTTL time.Duration, log *slog.Logger) *TokenHandlers {
	return &TokenHandlers{signer: signer, auth: auth, maxTTL: maxTTL, log: log}
}

// Mint: POST /v1/tokens, for operators who let drmpipe mint tokens;
// requires an API key with scope license-token.
func (h *TokenHandlers) Mint(w http.ResponseWriter, r *http.Request) {
	if _, err := h.auth.Authenticate(r, "license-token"); err != nil {
		httperr.Write(w, r, h.log, err)
		return
	}
	var req TokenRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httperr.Write(w, r, h.log, httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, "body must be a JSON token request"))
		return
	}
	h.issue(w, r, req)
}

// Demo: POST /demo/token?content=&user=&ttl=, only in demo mode; lets the
// demo page obtain tokens without an operator backend.
func (h *TokenHandlers) Demo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := TokenRequest{User: q.Get("user"), Content: q.Get("content"), Device: q.Get("device"), TTL: q.Get("ttl")}
	if req.User == "" {
		req.User = "demo-user"
	}
	h.issue(w, r, req)
}

func (h *TokenHandlers) issue(w http.ResponseWriter, r *http.Request, req TokenRequest) {
	if req.User == "" || req.Content == "" {
		httperr.Write(w, r, h.log, httperr.New(http.StatusBadRequest, httperr.CodeInvalidRequest, "user and content are required"))
		return
	}
	if err := checkContentID("content", req.Content); err != nil {
		httperr.Write(w, r, h.log, err)
		return
	}
	ttl := h.maxTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > h.maxTTL {
			httperr.Write(w, r, h.log, httperr.New(http.StatusBadRequest, httperr.CodeInvalidRequest, "ttl must be a duration up to "+h.maxTTL.String()))
			return
		}
		ttl = d
	}
	c := entitlement.Claims{Subject: req.User, ContentID: req.Content, DeviceID: req.Device}
	now := time.Now()
	c.IssuedAt, c.ExpiresAt = now, now.Add(ttl)
	var err error
	if c.TrackTypes, err = parseEach(req.TrackTypes, keys.ParseTrackType); err != nil {
		httperr.Write(w, r, h.log, httperr.New(http.StatusBadRequest, httperr.CodeInvalidRequest, "unknown track type"))
		return
	}
	if c.KIDs, err = parseEach(req.KIDs, drm.ParseKeyID); err != nil {
		httperr.Write(w, r, h.log, httperr.New(http.StatusBadRequest, httperr.CodeInvalidRequest, "kids must be UUIDs"))
		return
	}
	tok, err := h.signer.Sign(c)
	if err != nil {
		httperr.Write(w, r, h.log, httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, "cannot mint a token for this request"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(TokenResponse{Token: tok, ExpiresAt: c.ExpiresAt.UTC()})
}

// JWKS: GET /.well-known/jwks.json, the public half of the signing key.
func (h *TokenHandlers) JWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(h.signer.JWKS())
}

// parseEach parses every string of ss with parse, stopping at the first
// error; none gives nil, as a request without the field.
func parseEach[T any](ss []string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, s := range ss {
		v, err := parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
