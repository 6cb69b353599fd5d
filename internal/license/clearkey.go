package license

// The W3C EME Clear Key license server: POST /license/clearkey takes a
// license request ({"kids":[...],"type":...}), authorizes it through
// entitlement and answers a JWK Set holding the requested keys, followed by
// the other keys of the content entitlement lets it release (policy
// license_keys), or refuses the whole request with the error schema.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/drmpipe/drmpipe/internal/drm"
	ck "github.com/drmpipe/drmpipe/internal/drm/clearkey"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// KeyLookup finds one content key. Unknown KIDs return an error wrapping
// keys.ErrKeyNotFound or ErrUnknownKey; revoked keys return
// revoked = true (the key may be empty then).
type KeyLookup interface {
	Lookup(ctx context.Context, kid drm.KeyID) (key keys.ContentKey, contentID string, tt keys.TrackType, revoked bool, err error)
}

// KeyScope chooses the keys of a license (entitlement.Service.LicenseKIDs):
// the requested KIDs first, then the other keys of the decision's content
// that may be released with them.
type KeyScope interface {
	LicenseKIDs(ctx context.Context, dec entitlement.Decision, requested []drm.KeyID) ([]drm.KeyID, error)
}

// ClearKeyConfig configures the ClearKey endpoint.
type ClearKeyConfig struct {
	EndpointConfig `yaml:",inline"`
}

// ClearKeyDeps are the ClearKey endpoint's collaborators. A shared (Redis)
// cache is not used: Clear Key answers carry clear content keys and stay in
// this process.
type ClearKeyDeps struct {
	Deps
	Keys KeyLookup
	// Scope adds keys beyond the requested ones; nil = exactly the
	// requested keys.
	Scope KeyScope
}

// ClearKeyHandler serves POST /license/clearkey.
type ClearKeyHandler struct {
	ep    *Endpoint
	keys  KeyLookup
	scope KeyScope
	cache bool
}

// NewClearKeyHandler returns the ClearKey license handler.
func NewClearKeyHandler(cfg ClearKeyConfig, deps ClearKeyDeps) (*ClearKeyHandler, error) {
	if deps.Keys == nil {
		return nil, fmt.Errorf("%w: clearkey endpoint without a key lookup", ErrConfig)
	}
	ep, err := NewEndpoint(cfg.EndpointConfig, drm.ClearKey, deps.Deps)
	if err != nil {
		return nil, err
	}
	useCache := deps.Cache != nil && !deps.Cache.Shared()
	if deps.Cache != nil && !useCache {
		ep.Log().Info("clearkey: shared license cache ignored (answers hold clear keys); single-flight only")
	}
	return &ClearKeyHandler{ep: ep, keys: deps.Keys, scope: deps.Scope, cache: useCache}, nil
}

// ServeHTTP implements http.Handler.
func (h *ClearKeyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(w, r); err != nil {
		h.ep.WriteError(w, r, err)
	}
}

func (h *ClearKeyHandler) serve(w http.ResponseWriter, r *http.Request) error {
	adm, err := h.ep.Admit(w, r)
	if err != nil {
		return err
	}
	req, kids, err := ck.UnmarshalLicenseRequest(adm.Body)
	if err != nil {
		return httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, "malformed ClearKey license request")
	}
	// A missing type means temporary (old CDMs send none; shaka-player's
	// drm_engine.js adds it).
	switch req.Type {
	case "", ck.TypeTemporary:
		req.Type = ck.TypeTemporary
	case ck.TypePersistent:
	default:
		return httperr.New(http.StatusBadRequest, httperr.CodeInvalidRequest, "unknown license type")
	}
	kids = dedupe(kids)
	persistent := req.Type == ck.TypePersistent
	dec, err := h.ep.Authorize(r.Context(), adm, entitlement.Request{KIDs: kids, Persistent: persistent})
	if err != nil {
		return err
	}
	if persistent && !dec.Policy.Persistent {
		return httperr.New(http.StatusForbidden, httperr.CodeNotEntitled, "persistent licenses are not allowed for this content")
	}
	release := kids
	if h.scope != nil {
		if release, err = h.scope.LicenseKIDs(r.Context(), dec, kids); err != nil {
			return DenyToHTTP(err)
		}
	}
	// The cache key covers the keys to release, not only the request: a
	// key added to or revoked from the content since an answer was cached
	// gives another key, so a cached license never carries a key the
	// decision would not release now.
	resp, err := h.ep.Serve(r.Context(), cacheInput(adm.Body, release), dec, h.cache, func(ctx context.Context) (Response, error) {
		return h.license(ctx, release, len(kids), req.Type, dec)
	})
	if err != nil {
		return err
	}
	WriteResponse(w, resp)
	return nil
}

// license builds the JWK Set (W3C EME §9.1.4) of kids, whose first
// requested entries are the KIDs the CDM asked for: it refuses the whole
// request if one of those is unknown, revoked or not entitled. The others
// were added by the KeyScope and are left out when they cannot be released
// (revoked or removed since); only a failing key store fails the request.
func (h *ClearKeyHandler) license(ctx context.Context, kids []drm.KeyID, requested int, typ string, dec entitlement.Decision) (Response, error) {
	out := ck.LicenseResponse{Type: typ, Keys: make([]ck.JWK, 0, len(kids))}
	for i, kid := range kids {
		jwk, err := h.jwk(ctx, kid, dec)
		if err != nil {
			var he *httperr.Error
			if i >= requested && errors.As(err, &he) && he.Status != http.StatusServiceUnavailable {
				continue
			}
			return Response{}, err
		}
		out.Keys = append(out.Keys, jwk)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return Response{}, err
	}
	return Response{ContentType: "application/json", Body: b}, nil
}

// jwk looks up one key and asks entitlement whether dec may release it
// (Decision.MayRelease).
func (h *ClearKeyHandler) jwk(ctx context.Context, kid drm.KeyID, dec entitlement.Decision) (ck.JWK, error) {
	key, contentID, tt, revoked, err := h.keys.Lookup(ctx, kid)
	switch {
	case errors.Is(err, keys.ErrKeyNotFound) || errors.Is(err, ErrUnknownKey):
		return ck.JWK{}, httperr.Wrap(err, http.StatusNotFound, httperr.CodeUnknownKey, "unknown key ID "+kid.String())
	case err != nil:
		he := httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "key lookup failed, retry")
		he.RetryAfter = 1
		return ck.JWK{}, he
	}
	if err := dec.MayRelease(entitlement.ContentKeyRef{KID: kid, ContentID: contentID, TrackType: tt, Active: !revoked}); err != nil {
		return ck.JWK{}, KeyRefusalToHTTP(err)
	}
	if err := key.Validate(); err != nil || key.KID != kid {
		return ck.JWK{}, httperr.Wrap(fmt.Errorf("key record for %s is inconsistent", kid), http.StatusInternalServerError, httperr.CodeInternal, "internal error")
	}
	return ck.NewJWK(kid, key.Key), nil
}

// cacheInput is what identifies a license in the cache: the request body
// and the KIDs the license releases.
func cacheInput(body []byte, release []drm.KeyID) []byte {
	out := make([]byte, 0, len(body)+1+16*len(release))
	out = append(out, body...)
	out = append(out, 0)
	for _, k := range release {
		out = append(out, k[:]...)
	}
	return out
}

func dedupe(kids []drm.KeyID) []drm.KeyID {
	seen := make(map[drm.KeyID]bool, len(kids))
	out := kids[:0:0]
	for _, k := range kids {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
