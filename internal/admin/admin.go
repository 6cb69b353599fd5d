// Package admin is the operator's authenticated HTTP API: the admin API
// over keys and revocations (scope admin; revocations are made by the
// revocation service) and playback tokens minted with drmpipe's own
// signing key (scope license-token), with the demo token endpoint.
package admin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/revocation"
)

// KeyAdmin is what the admin API needs of the key store.
type KeyAdmin interface {
	GetOrCreate(ctx context.Context, contentID string, t keys.TrackType, period uint32) (keys.ContentKey, error)
	Get(ctx context.Context, kid drm.KeyID) (keys.StoredKey, error)
	List(ctx context.Context, contentID string) ([]keys.StoredKey, error)
	Rewrap(ctx context.Context) (int, error)
}

// Route is one endpoint: a net/http ServeMux pattern and its handler.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Deps are the admin API's collaborators.
type Deps struct {
	Keys KeyAdmin
	// Revocations makes and lists revocations (the domain service).
	Revocations *revocation.Service
	Auth        Authenticator
	// AllowReveal lets GET /v1/admin/keys/{kid}?reveal=true return the
	// key (keys.allow_reveal).
	AllowReveal bool
	Log         *slog.Logger
}

// Routes returns the admin API's endpoints (api/openapi.yaml).
func Routes(d Deps) []Route {
	h := &adminHandlers{keys: d.Keys, revocations: d.Revocations, auth: d.Auth, allowReveal: d.AllowReveal, log: d.Log}
	return h.routes()
}

// adminHandlers is the authenticated admin API (api/openapi.yaml).
type adminHandlers struct {
	keys KeyAdmin
	// revocations makes and lists revocations (the domain service).
	revocations *revocation.Service
	auth        Authenticator
	// allowReveal lets GET /v1/admin/keys/{kid}?reveal=true return the key.
	allowReveal bool
	log         *slog.Logger
}

// keyJSON is a key's metadata; Key and IV only when revealed.
type keyJSON struct {
	KID       string     `json:"kid"`
	ContentID string     `json:"contentId"`
	TrackType string     `json:"trackType"`
	Period    uint32     `json:"period"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"createdAt"`
	RotatedAt *time.Time `json:"rotatedAt,omitempty"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	Key       string     `json:"key,omitempty"`
	IV        string     `json:"iv,omitempty"`
}

func toJSON(k keys.StoredKey, reveal bool) keyJSON {
	j := keyJSON{KID: k.KID.String(), ContentID: k.ContentID, TrackType: k.TrackType.String(), Period: k.Period, State: k.State.String(), CreatedAt: k.CreatedAt.UTC()}
	if !k.RotatedAt.IsZero() {
		t := k.RotatedAt.UTC()
		j.RotatedAt = &t
	}
	if !k.RevokedAt.IsZero() {
		t := k.RevokedAt.UTC()
		j.RevokedAt = &t
	}
	if reveal {
		j.Key, j.IV = hex.EncodeToString(k.Key.Key), hex.EncodeToString(k.Key.IV)
	}
	return j
}

func (h *adminHandlers) routes() []Route {
	wrap := func(fn adminFunc) http.Handler { return adminOnly(h.auth, h.log, fn) }
	return []Route{
		{"GET /v1/admin/keys", wrap(h.listKeys)},
		{"POST /v1/admin/keys", wrap(h.createKey)},
		{"GET /v1/admin/keys/{kid}", wrap(h.showKey)},
		{"POST /v1/admin/keys/{kid}/revoke", wrap(h.revokeKey)},
		{"POST /v1/admin/keys/rewrap", wrap(h.rewrap)},
		{"GET /v1/admin/revocations", wrap(h.listRevocations)},
		{"POST /v1/admin/revocations", wrap(h.revoke)},
	}
}

// adminFunc is an admin endpoint; who is the authenticated principal.
type adminFunc func(w http.ResponseWriter, r *http.Request, who string) error

// adminOnly runs fn for requests with an API key of scope admin; its error
// becomes the HTTP answer (httperr).
func adminOnly(auth Authenticator, log *slog.Logger, fn adminFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := auth.Authenticate(r, "admin")
		if err == nil {
			err = fn(w, r, who)
		}
		if err != nil {
			httperr.Write(w, r, log, err)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func badRequest(msg string) error {
	return httperr.New(http.StatusBadRequest, httperr.CodeInvalidRequest, msg)
}

// checkContentID applies keys.ValidateContentID to the request field
// field: a 400 that names the field and the rule.
func checkContentID(field, id string) error {
	if err := keys.ValidateContentID(id); err != nil {
		return badRequest(field + ": " + err.Error())
	}
	return nil
}

func (h *adminHandlers) listKeys(w http.ResponseWriter, r *http.Request, _ string) error {
	cid := r.URL.Query().Get("contentId")
	if cid == "" {
		return badRequest("contentId query parameter is required")
	}
	if err := checkContentID("contentId", cid); err != nil {
		return err
	}
	ks, err := h.keys.List(r.Context(), cid)
	if err != nil {
		return delivery.StoreError(err)
	}
	out := make([]keyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, toJSON(k, false))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (h *adminHandlers) createKey(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		ContentID string `json:"contentId"`
		TrackType string `json:"trackType"`
		Period    uint32 `json:"period"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return badRequest("body must be JSON {contentId, trackType, period}")
	}
	if err := checkContentID("contentId", req.ContentID); err != nil {
		return err
	}
	if req.TrackType == "" {
		req.TrackType = "ALL"
	}
	tt, err := keys.ParseTrackType(req.TrackType)
	if err != nil {
		return badRequest("unknown trackType")
	}
	k, err := h.keys.GetOrCreate(r.Context(), req.ContentID, tt, req.Period)
	if err != nil {
		return delivery.StoreError(err)
	}
	stored, err := h.keys.Get(r.Context(), k.KID)
	if err != nil {
		return delivery.StoreError(err)
	}
	return writeJSON(w, http.StatusOK, toJSON(stored, false))
}

func (h *adminHandlers) showKey(w http.ResponseWriter, r *http.Request, who string) error {
	kid, err := drm.ParseKeyID(r.PathValue("kid"))
	if err != nil {
		return badRequest("kid must be a UUID")
	}
	reveal := r.URL.Query().Get("reveal") == "true"
	if reveal && !h.allowReveal {
		return httperr.New(http.StatusForbidden, httperr.CodeForbidden, "revealing keys over the API is disabled (server admin.allowReveal)")
	}
	k, err := h.keys.Get(r.Context(), kid)
	if err != nil {
		return delivery.StoreError(err)
	}
	if reveal {
		h.log.Warn("key revealed over the admin API", "kid", kid.String(), "by", who)
	}
	return writeJSON(w, http.StatusOK, toJSON(k, reveal))
}

func (h *adminHandlers) revokeKey(w http.ResponseWriter, r *http.Request, who string) error {
	kid, err := drm.ParseKeyID(r.PathValue("kid"))
	if err != nil {
		return badRequest("kid must be a UUID")
	}
	rev := entitlement.Revocation{Kind: entitlement.RevokeKID, Value: kid.String(), By: who, Reason: r.URL.Query().Get("reason")}
	rev, status, err := h.apply(r.Context(), rev)
	if err != nil {
		return err
	}
	return writeJSON(w, status, map[string]string{"revoked": rev.Value})
}

func (h *adminHandlers) rewrap(w http.ResponseWriter, r *http.Request, _ string) error {
	n, err := h.keys.Rewrap(r.Context())
	if err != nil {
		return delivery.StoreError(err)
	}
	return writeJSON(w, http.StatusOK, map[string]int{"rewrapped": n})
}

func (h *adminHandlers) listRevocations(w http.ResponseWriter, r *http.Request, _ string) error {
	list, err := h.revocations.List(r.Context())
	if err != nil {
		return httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "revocation list unavailable")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"revocations": list})
}

func (h *adminHandlers) revoke(w http.ResponseWriter, r *http.Request, who string) error {
	var req struct {
		Kind   string `json:"kind"`
		Value  string `json:"value"`
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return badRequest("body must be JSON {kind, value, reason}")
	}
	kind, err := entitlement.ParseRevocationKind(req.Kind)
	if err != nil {
		return badRequest("kind must be user, device, token or kid")
	}
	rev, status, err := h.apply(r.Context(), entitlement.Revocation{Kind: kind, Value: req.Value, By: who, Reason: req.Reason})
	if err != nil {
		return err
	}
	return writeJSON(w, status, rev)
}

// apply makes a revocation through the revocation service and maps the
// outcome to HTTP: 200 when every replica was told, 202 when only this one
// applied it (Redis down) and the others learn it from the audit log at
// their next re-sync. A revocation the rules refuse is a 400 (permanent);
// only an unreachable store is a 503.
func (h *adminHandlers) apply(ctx context.Context, rev entitlement.Revocation) (entitlement.Revocation, int, error) {
	rev, reach, err := h.revocations.Revoke(ctx, rev)
	switch {
	case errors.Is(err, revocation.ErrInvalid):
		return rev, 0, httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, "invalid revocation: "+revocationProblem(err))
	case errors.Is(err, revocation.ErrNotRecorded):
		return rev, 0, httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "audit log unavailable; the revocation was not recorded")
	case errors.Is(err, revocation.ErrNotApplied):
		return rev, 0, httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "revocation recorded in the audit log but not applied; every replica applies it at its next re-sync")
	case err != nil:
		return rev, 0, delivery.StoreError(err)
	case reach == revocation.ReachAll:
		return rev, http.StatusOK, nil
	}
	return rev, http.StatusAccepted, nil
}

// revocationProblem is the public detail of a refused revocation: which
// rule the value breaks, without echoing it.
func revocationProblem(err error) string {
	switch {
	case errors.Is(err, entitlement.ErrInvalidID):
		return "value must be 1 to " + strconv.Itoa(entitlement.MaxSubjectIDBytes) + " bytes of printable UTF-8 without control characters or surrounding spaces"
	case errors.Is(err, apikey.ErrInvalid):
		return "the audit log refuses it"
	}
	return "kind, value, by or reason malformed"
}
