package speke

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
)

type handler struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
}

// NewHandler returns the SPEKE key provider serving POST PathV1 and POST
// PathV2. Order of work per request: method, authentication (401/403 before
// the body is read or any key touched), SPEKE version header, size-limited
// body, safe CPIX parse, SPEKE validation, keys from deps.Keys, signaling,
// and, when the request names a recipient certificate in DeliveryDataList,
// encrypted key delivery (CPIX 2.3 §"Content Key Encryption").
//
// Errors use the project's JSON error body (httperr) rather than SPEKE's
// plain-text bodies: SPEKE clients only act on the status code, and the
// message of a 4xx is the precise reason (e.g. "Missing CPIX@contentId").
//
// KIDs: SPEKE encryptors (MediaPackage, MediaConvert, Shaka, Bento4,
// Unified) choose each ContentKey@kid themselves, write it into their tenc
// boxes and manifests, and expect the key of exactly that KID back (the
// SPEKE reference server generates the key of each requested KID). So a
// ContentKey with a KID gets the store's key of (content ID, KID)
// (GetOrCreateKID), created on first request and recorded with the usage
// rule's track type and the period; a retried or concurrent request, from
// any number of handler processes, gets the same key under the same KID.
// The KID of another content ID is refused (409), as is a revoked KID (409,
// code "revoked"): a revoked KID never gets a second key.
//
// Only a ContentKey whose KID is all-zero (no usable KID) gets the key of
// its store slot (content ID, track type, period) with the store's own KID,
// which then replaces the zero KID in ContentKey, DRMSystem and usage rules
// (AWS SPEKE v1 "KID override"). A retried such request also gets the same
// key and KID.
//
// Key rotation (a ContentKeyPeriodList; SPEKE v1 and v2.0 periods by
// @index, v2.1 / CPIX 2.4 also by @start/@end or @startOffset/@endOffset):
// each key is addressed as above, recorded with its period's index.
//
// Store-chosen KIDs (query parameter overrideKeyIds=true on the provider
// URL, as Axinom's key service names the same option): every key is the
// store slot key of (content ID, track type, period index), the very key
// `drmpipe package --content-id [--key-period]` takes from the store, and
// the response overrides each requested KID with the slot key's (AWS SPEKE
// v1, v2.0 and v2.1 "Overriding the key identifier": the key provider "can
// provide a different value for the KID in the response"). An encryptor
// then gets one KID and key per (content, track type, period) whatever KIDs
// it proposes, stable across requests and the same as the store's; and a
// revoked key is followed by a fresh key under a new KID in the next
// request (emergency re-key), never re-served.
func NewHandler(cfg Config, deps Deps) http.Handler {
	h := &handler{cfg: cfg, deps: deps, log: deps.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(PathV1, func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, false) })
	mux.HandleFunc(PathV2, func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, true) })
	return mux
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, v2 bool) {
	version := r.Header.Get(HeaderVersion)
	if v2 {
		// The response echoes the request's version (AWS SPEKE v2: "Echo
		// back the request value"); 2.0 when it names none we speak.
		if version != Version21 {
			w.Header().Set(HeaderVersion, Version2)
		} else {
			w.Header().Set(HeaderVersion, Version21)
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httperr.Write(w, r, h.log, httperr.New(http.StatusMethodNotAllowed, httperr.CodeMethodNotAllowed, "SPEKE requests use POST"))
		return
	}
	principal, err := h.authenticate(r)
	if err != nil {
		httperr.Write(w, r, h.log, err)
		return
	}
	if v2 {
		if version != Version2 && version != Version21 {
			httperr.Write(w, r, h.log, reject("Unsupported SPEKE version: %s %q (want %s or %s)", HeaderVersion, version, Version2, Version21))
			return
		}
	} else if got := r.Header.Get(HeaderVersion); got != "" && got != "1.0" {
		httperr.Write(w, r, h.log, reject("Unsupported SPEKE version: %s %q on the v1 endpoint", HeaderVersion, got))
		return
	}
	max := h.cfg.maxBytes()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httperr.Write(w, r, h.log, httperr.Wrap(err, http.StatusRequestEntityTooLarge, httperr.CodeTooLarge, "request body over the limit"))
			return
		}
		httperr.Write(w, r, h.log, httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, "cannot read request body"))
		return
	}
	doc, err := cpix.UnmarshalLimited(body, cpix.Limits{MaxBytes: max})
	if err != nil {
		// cpix errors name the element and attribute, never a key value.
		httperr.Write(w, r, h.log, httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, err.Error()))
		return
	}
	out, err := h.respond(r, doc, v2, version)
	if err != nil {
		httperr.Write(w, r, h.log, err)
		return
	}
	h.log.InfoContext(r.Context(), "speke keys served", "principal", principal, "content_id", contentIDOf(doc),
		"keys", len(doc.ContentKeys), "drm_systems", len(doc.DRMSystems), "encrypted", doc.Encrypted(), "v2", v2)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Cache-Control", "no-store")
	if v2 {
		w.Header().Set(HeaderUserAgentV2, userAgent)
	} else {
		w.Header().Set(HeaderUserAgentV1, userAgent)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func contentIDOf(d *cpix.Document) string {
	if d.ContentID != "" {
		return d.ContentID
	}
	return d.ID
}

// authenticate runs deps.Auth. Its 401 and 403 answers carry the RFC 6750
// §3 challenge (WWW-Authenticate), unless the Authenticator's own
// *httperr.Error chose one.
func (h *handler) authenticate(r *http.Request) (string, error) {
	if h.deps.Auth == nil {
		return "", httperr.New(http.StatusUnauthorized, httperr.CodeUnauthorized, "authentication required").Bearer(r)
	}
	p, err := h.deps.Auth.Authenticate(r, Scope)
	if err == nil {
		return p, nil
	}
	var he *httperr.Error
	switch {
	case errors.As(err, &he):
		if he.Challenge != "" {
			return "", err
		}
		c := *he // the Authenticator's error may be shared: not ours to change
		return "", c.Bearer(r)
	case errors.Is(err, ErrForbidden):
		return "", httperr.Wrap(err, http.StatusForbidden, httperr.CodeForbidden, "credentials lack the speke scope").Bearer(r)
	}
	return "", httperr.Wrap(err, http.StatusUnauthorized, httperr.CodeUnauthorized, "authentication required").Bearer(r)
}

// respond validates doc, fills it with keys and signaling, and marshals it.
func (h *handler) respond(r *http.Request, doc *cpix.Document, v2 bool, version string) ([]byte, error) {
	var p plan
	var err error
	if v2 {
		cpixVersion := cpix.Version23
		if version == Version21 {
			cpixVersion = cpix.Version24
		}
		p, err = planV2(doc, cpixVersion)
	} else {
		p, err = planV1(doc)
	}
	if err != nil {
		return nil, err
	}
	var recipient *x509.Certificate
	for _, dd := range doc.DeliveryData {
		if len(dd.Certificate) > 0 {
			if recipient, err = x509.ParseCertificate(dd.Certificate); err != nil {
				return nil, reject("DeliveryData %q: DeliveryKey is not a valid X.509 certificate", dd.ID)
			}
			break
		}
	}
	if h.deps.Keys == nil {
		return nil, httperr.New(http.StatusServiceUnavailable, httperr.CodeUnavailable, "key store not configured")
	}
	if p.provisional {
		if err := h.numberPeriods(r, doc, &p); err != nil {
			return nil, err
		}
	}
	if err := h.recordPeriods(r, doc, p); err != nil {
		return nil, err
	}
	got := make([]keys.ContentKey, len(doc.ContentKeys))
	fill := h.requestedKeys
	if r.URL.Query().Get(QueryOverrideKeyIDs) == "true" {
		fill = h.slotKeys
	}
	if err := fill(r, doc, p, got); err != nil {
		return nil, err
	}
	for i := range doc.ContentKeys {
		ck := &doc.ContentKeys[i]
		iv, err := explicitIV(got[i].IV)
		if err != nil {
			return nil, httperr.Wrap(err, http.StatusInternalServerError, httperr.CodeInternal, "cannot make an IV")
		}
		ck.ExplicitIV = iv
		ck.Value = append([]byte{}, got[i].Key...)
		ck.Encrypted = nil
	}
	for i := range doc.DRMSystems {
		s := &doc.DRMSystems[i]
		sys, _ := systemOf(s.SystemID) // checked by the plan
		ki := doc.ContentKeyByKID(s.KID)
		sd, err := h.buildSystem(sys, got[ki], p.scheme, p.contentID, p.slots[ki].period, p.rotation)
		if err != nil {
			return nil, httperr.Wrap(err, http.StatusInternalServerError, httperr.CodeInternal, "cannot build DRM signaling")
		}
		if err := fillSystem(s, sd, p.scheme, v2); err != nil {
			return nil, httperr.Wrap(err, http.StatusInternalServerError, httperr.CodeInternal, "cannot build DRM signaling")
		}
	}
	if recipient != nil {
		if err := cpix.EncryptKeys(doc, recipient); err != nil {
			return nil, httperr.Wrap(err, http.StatusUnprocessableEntity, httperr.CodeInvalidRequest, "cannot encrypt keys for the DeliveryData certificate (SPEKE needs a 2048-bit or larger RSA certificate)")
		}
	}
	out, err := cpix.Marshal(doc)
	for i := range doc.ContentKeys {
		clear(doc.ContentKeys[i].Value)
	}
	if err != nil {
		return nil, httperr.Wrap(err, http.StatusInternalServerError, httperr.CodeInternal, "cannot write the CPIX response")
	}
	return out, nil
}

// requestedKeys fills got with the key of each requested KID (see
// NewHandler), the all-zero KID getting its slot key.
func (h *handler) requestedKeys(r *http.Request, doc *cpix.Document, p plan, got []keys.ContentKey) error {
	var err error
	var override *drm.KeyID // the slot key's KID for the all-zero KID
	for i, s := range p.slots {
		kid := doc.ContentKeys[i].KID
		var k keys.ContentKey
		if kid.IsZero() {
			k, err = h.deps.Keys.GetOrCreate(r.Context(), p.contentID, s.t, s.period)
		} else {
			k, err = h.deps.Keys.GetOrCreateKID(r.Context(), p.contentID, kid, s.t, s.period)
		}
		if err != nil {
			return keyStoreError(err, kid)
		}
		if err := k.Validate(); err != nil {
			return httperr.Wrap(err, http.StatusInternalServerError, httperr.CodeInternal, "key store returned an invalid key")
		}
		if kid.IsZero() {
			override = &k.KID
		} else if k.KID != kid {
			return httperr.New(http.StatusInternalServerError, httperr.CodeInternal, "key store returned the key of another KID")
		}
		got[i] = k
	}
	// KID override of the (at most one, see assignSlots) zero KID, in
	// ContentKey, DRMSystem and usage rules; requested KIDs stay as sent.
	if override != nil {
		for i := range doc.ContentKeys {
			if doc.ContentKeys[i].KID.IsZero() && doc.ContentKeyByKID(got[i].KID) >= 0 {
				// The slot key's KID was also requested explicitly: two
				// ContentKeys would name one key.
				return reject("ContentKey with the all-zero KID asks for the key of track type %s in period %d, whose KID %s the request also names", p.slots[i].t, p.slots[i].period, got[i].KID)
			}
		}
		doc.ReplaceKID(drm.KeyID{}, *override)
	}
	return nil
}

// recordPeriods records the times of the request's timed key periods in
// the store (Deps.Periods), before any key is touched: times that
// contradict earlier requests for the content (another range for an
// index, an overlap, index order against time) are a 409 naming the
// period.
func (h *handler) recordPeriods(r *http.Request, doc *cpix.Document, p plan) error {
	if h.deps.Periods == nil {
		return nil
	}
	for _, ckp := range doc.ContentKeyPeriods {
		kp := p.periods[ckp.ID]
		if !kp.timed {
			continue
		}
		pt := keys.PeriodTimes{Period: kp.index, WallClock: kp.interval.WallClock, Start: kp.interval.Start, End: kp.interval.End}
		if err := h.deps.Periods.RecordPeriodTimes(r.Context(), p.contentID, pt); err != nil {
			return periodStoreError(err, ckp.ID)
		}
	}
	return nil
}

// numberPeriods gives the periods of a request without @index (SPEKE v2.1
// with times only) the store's index for their times, in time order, and
// echoes it as ContentKeyPeriod@index: the same times always get the same
// index, so the same keys.
func (h *handler) numberPeriods(r *http.Request, doc *cpix.Document, p *plan) error {
	if h.deps.Periods == nil {
		return reject("ContentKeyPeriods without @index need a key store that records period times")
	}
	remap := make(map[uint32]uint32, len(p.periods))
	for rank := uint32(0); rank < uint32(len(doc.ContentKeyPeriods)); rank++ {
		for i := range doc.ContentKeyPeriods {
			ckp := &doc.ContentKeyPeriods[i]
			kp := p.periods[ckp.ID]
			if kp.index != rank {
				continue
			}
			pt := keys.PeriodTimes{WallClock: kp.interval.WallClock, Start: kp.interval.Start, End: kp.interval.End}
			idx, err := h.deps.Periods.PeriodIndexFor(r.Context(), p.contentID, pt)
			if err != nil {
				return periodStoreError(err, ckp.ID)
			}
			remap[rank] = idx
			ckp.Index = &idx
		}
	}
	for id, kp := range p.periods {
		kp.index = remap[kp.index]
		p.periods[id] = kp
	}
	for i := range p.slots {
		p.slots[i].period = remap[p.slots[i].period]
	}
	return nil
}

// periodStoreError maps a failure to record or number key period id.
func periodStoreError(err error, id string) error {
	if errors.Is(err, keys.ErrPeriodConflict) {
		return httperr.Wrap(err, http.StatusConflict, httperr.CodeInvalidRequest,
			fmt.Sprintf("ContentKeyPeriod %q contradicts the key periods recorded for this content: %v", id, strings.TrimPrefix(err.Error(), keys.ErrPeriodConflict.Error()+": ")))
	}
	return keyStoreError(err, drm.KeyID{})
}

// slotKeys fills got with the slot key of every ContentKey and overrides
// each requested KID with its key's (store-chosen KIDs, see NewHandler).
func (h *handler) slotKeys(r *http.Request, doc *cpix.Document, p plan, got []keys.ContentKey) error {
	override := make(map[drm.KeyID]drm.KeyID, len(p.slots))
	for i, s := range p.slots {
		k, err := h.deps.Keys.GetOrCreate(r.Context(), p.contentID, s.t, s.period)
		if err != nil {
			return keyStoreError(err, doc.ContentKeys[i].KID)
		}
		if err := k.Validate(); err != nil {
			return httperr.Wrap(err, http.StatusInternalServerError, httperr.CodeInternal, "key store returned an invalid key")
		}
		got[i] = k
		override[doc.ContentKeys[i].KID] = k.KID
	}
	doc.ReplaceKIDs(override)
	return nil
}

// keyStoreError maps a key store failure to the SPEKE response: the
// request's fault (422, 409) or the store's (503, retryable). Messages
// name only the requested KID, never another content ID or a key.
func keyStoreError(err error, kid drm.KeyID) error {
	switch {
	case errors.Is(err, keys.ErrKIDConflict):
		return httperr.Wrap(err, http.StatusConflict, httperr.CodeInvalidRequest,
			fmt.Sprintf("ContentKey@kid %s is the KID of another content ID; choose another KID", kid))
	case errors.Is(err, keys.ErrKeyRevoked):
		return httperr.Wrap(err, http.StatusConflict, httperr.CodeRevoked,
			fmt.Sprintf("the key of ContentKey@kid %s is revoked; choose another KID", kid))
	case errors.Is(err, keys.ErrInvalidRequest), errors.Is(err, keys.ErrUnknownTrackType):
		return httperr.Wrap(err, http.StatusUnprocessableEntity, httperr.CodeInvalidRequest, "content ID or track type refused by the key store")
	}
	he := httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "key store unavailable")
	he.RetryAfter = 1
	return he
}

// explicitIV returns the key's stored IV as a 16-byte ContentKey@explicitIV:
// a 16-byte IV as is, an 8-byte cenc IV zero-extended (ISO/IEC 23001-7 §9.1:
// an 8-byte IV is the high half of the counter block). A key without an IV
// gets a random one; it is not stored, so such stores give a new IV on every
// request.
func explicitIV(iv []byte) ([]byte, error) {
	switch len(iv) {
	case 16:
		return append([]byte{}, iv...), nil
	case 8:
		return append(append([]byte{}, iv...), make([]byte, 8)...), nil
	}
	out := make([]byte, 16)
	_, err := rand.Read(out)
	return out, err
}
