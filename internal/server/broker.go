package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/speke"
)

// Strict-broker key delivery (issue 3, "Admin surface"): a packaging worker
// fetches the keys of one job through a URL signed with HMAC-SHA256 (RFC
// 2104, FIPS 180-4) under keys.broker_hmac_key. The URL names one content
// ID, the keys-per mode and an expiry, and optionally the SHA-256 of the
// worker's public key; the answer is a CPIX document whose keys are
// encrypted to the worker's certificate (CPIX 2.3 §"Content Key
// Encryption"). Workers hold neither store nor KMS credentials; the
// signature is their only credential, for minutes.

// BrokerPath is the worker endpoint (GET with a cert parameter, or POST with
// the PEM certificate as the body).
const BrokerPath = "/v1/broker/cpix"

// Sentinel errors of broker URL signing and verification. (They live here
// rather than in an errors.go because this package has none.)
var (
	// ErrBrokerKey reports a missing or too short broker HMAC key.
	ErrBrokerKey = errors.New("broker HMAC key")
	// ErrBrokerURL reports a broker URL that is malformed or whose
	// signature does not match (tampered with, or signed with another key).
	ErrBrokerURL = errors.New("invalid broker URL")
	// ErrBrokerExpired reports a correctly signed URL past its expiry.
	ErrBrokerExpired = errors.New("broker URL expired")
	// ErrBrokerLifetime reports a correctly signed URL valid for longer than
	// the verifier's keys.broker_url_ttl.
	ErrBrokerLifetime = errors.New("broker URL lifetime over the limit")
)

// MinBrokerKeyBytes is the shortest accepted HMAC key (RFC 2104 §3: at
// least the hash output length).
const MinBrokerKeyBytes = 32

// brokerSkew is the clock skew allowed between the signer (CLI, admin API
// on another replica) and the verifier when checking the lifetime bound.
const brokerSkew = time.Minute

// Query parameters of a broker URL.
const (
	brokerParamContent   = "content"
	brokerParamKeysPer   = "keysPer"
	brokerParamExp       = "exp"
	brokerParamRecipient = "recipient"
	brokerParamSig       = "sig"
	brokerParamCert      = "cert"
)

// maxBrokerCert bounds the recipient certificate a worker sends.
const maxBrokerCert = 64 << 10

// KeysPer is how many keys a job uses: one for the asset, or one per track
// type (AUDIO, SD, HD, UHD1, UHD2), as `drmpipe package --keys-per`.
type KeysPer uint8

// Keys-per modes.
const (
	KeysPerAsset KeysPer = iota + 1
	KeysPerTrackType
)

// String returns "asset" or "track-type".
func (k KeysPer) String() string {
	switch k {
	case KeysPerAsset:
		return "asset"
	case KeysPerTrackType:
		return "track-type"
	}
	return fmt.Sprintf("KeysPer(%d)", uint8(k))
}

// ParseKeysPer parses "asset" or "track-type".
func ParseKeysPer(s string) (KeysPer, error) {
	switch s {
	case "asset":
		return KeysPerAsset, nil
	case "track-type":
		return KeysPerTrackType, nil
	}
	return 0, fmt.Errorf("%w: keysPer %q (want asset or track-type)", ErrBrokerURL, s)
}

// TrackTypes are the store slots of a mode: ALL, or the five SPEKE v2 track
// types.
func (k KeysPer) TrackTypes() []keys.TrackType {
	if k == KeysPerTrackType {
		return []keys.TrackType{keys.Audio, keys.SD, keys.HD, keys.UHD1, keys.UHD2}
	}
	return []keys.TrackType{keys.All}
}

// BrokerGrant is what one broker URL allows.
type BrokerGrant struct {
	ContentID string
	KeysPer   KeysPer
	// Expires is the end of validity, in whole seconds.
	Expires time.Time
	// Recipient, when set, is RecipientFingerprint of the only public key
	// the keys may be encrypted to; empty lets any certificate fetch.
	Recipient string
}

// ParseBrokerKey decodes keys.broker_hmac_key (hex, then base64 standard or
// URL, padded or not; as the config validator) and checks its length. An
// empty string gives (nil, nil): the broker is off.
func ParseBrokerKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	var b []byte
	if h, err := hex.DecodeString(s); err == nil {
		b = h
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if d, err := enc.DecodeString(s); err == nil {
				b = d
				break
			}
		}
	}
	if len(b) < MinBrokerKeyBytes {
		return nil, fmt.Errorf("%w: must decode (hex or base64) to at least %d bytes", ErrBrokerKey, MinBrokerKeyBytes)
	}
	return b, nil
}

// RecipientFingerprint is the lower-case hex SHA-256 of a certificate's
// SubjectPublicKeyInfo (RFC 5280 §4.1.2.7). It names the key, not the
// certificate: whoever holds the private key can decrypt, whatever
// certificate carries it, so this is what a URL binds.
func RecipientFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// brokerMAC is HMAC-SHA256 over a versioned, length-prefixed encoding of the
// grant, so that no two grants share a message.
func brokerMAC(key []byte, g BrokerGrant) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("drmpipe-broker-v1"))
	for _, f := range []string{g.ContentID, g.KeysPer.String(), strconv.FormatInt(g.Expires.Unix(), 10), g.Recipient} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	return m.Sum(nil)
}

// SignBrokerURL returns base + BrokerPath + the signed query of g. base is
// the server's scheme and authority ("https://keys.example:8443").
func SignBrokerURL(key []byte, base string, g BrokerGrant) (string, error) {
	if len(key) < MinBrokerKeyBytes {
		return "", fmt.Errorf("%w: at least %d bytes needed", ErrBrokerKey, MinBrokerKeyBytes)
	}
	if err := keys.ValidateContentID(g.ContentID); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBrokerURL, err)
	}
	if g.KeysPer != KeysPerAsset && g.KeysPer != KeysPerTrackType {
		return "", fmt.Errorf("%w: keysPer %s", ErrBrokerURL, g.KeysPer)
	}
	if g.Recipient != "" && !validFingerprint(g.Recipient) {
		return "", fmt.Errorf("%w: recipient must be 64 lower-case hex digits", ErrBrokerURL)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: base %q must be an http(s) URL", ErrBrokerURL, base)
	}
	g.Expires = time.Unix(g.Expires.Unix(), 0)
	q := url.Values{}
	q.Set(brokerParamContent, g.ContentID)
	q.Set(brokerParamKeysPer, g.KeysPer.String())
	q.Set(brokerParamExp, strconv.FormatInt(g.Expires.Unix(), 10))
	if g.Recipient != "" {
		q.Set(brokerParamRecipient, g.Recipient)
	}
	q.Set(brokerParamSig, base64.RawURLEncoding.EncodeToString(brokerMAC(key, g)))
	u.Path = strings.TrimSuffix(u.Path, "/") + BrokerPath
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// VerifyBrokerQuery checks the signature of a broker URL's query (in
// constant time), then that it has not expired at now and does not outlive
// now + maxTTL (plus a minute of clock skew): a URL signed for longer than
// the server allows is refused even with a valid signature.
func VerifyBrokerQuery(key []byte, q url.Values, now time.Time, maxTTL time.Duration) (BrokerGrant, error) {
	var g BrokerGrant
	if len(key) < MinBrokerKeyBytes {
		return g, fmt.Errorf("%w: at least %d bytes needed", ErrBrokerKey, MinBrokerKeyBytes)
	}
	for _, p := range []string{brokerParamContent, brokerParamKeysPer, brokerParamExp, brokerParamRecipient, brokerParamSig} {
		if len(q[p]) > 1 {
			return g, fmt.Errorf("%w: parameter %s repeated", ErrBrokerURL, p)
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(q.Get(brokerParamSig))
	if err != nil || len(sig) != sha256.Size {
		return g, fmt.Errorf("%w: missing or malformed signature", ErrBrokerURL)
	}
	exp, err := strconv.ParseInt(q.Get(brokerParamExp), 10, 64)
	if err != nil {
		return g, fmt.Errorf("%w: missing or malformed exp", ErrBrokerURL)
	}
	g = BrokerGrant{ContentID: q.Get(brokerParamContent), Expires: time.Unix(exp, 0), Recipient: q.Get(brokerParamRecipient)}
	if g.KeysPer, err = ParseKeysPer(q.Get(brokerParamKeysPer)); err != nil {
		return BrokerGrant{}, err
	}
	if !hmac.Equal(brokerMAC(key, g), sig) {
		return BrokerGrant{}, fmt.Errorf("%w: signature does not match", ErrBrokerURL)
	}
	// Signed before content IDs had one rule, or by a leaked key: the
	// content ID rule holds here too, before any store access.
	if err := keys.ValidateContentID(g.ContentID); err != nil {
		return BrokerGrant{}, fmt.Errorf("%w: %w", ErrBrokerURL, err)
	}
	if !now.Before(g.Expires) {
		return BrokerGrant{}, ErrBrokerExpired
	}
	if g.Expires.After(now.Add(maxTTL + brokerSkew)) {
		return BrokerGrant{}, fmt.Errorf("%w: valid until %s, the server allows %s", ErrBrokerLifetime, g.Expires.UTC().Format(time.RFC3339), maxTTL)
	}
	return g, nil
}

func validFingerprint(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CPIXKey is one key of a CPIX export with the slot it is used for.
type CPIXKey struct {
	Key       keys.ContentKey
	TrackType keys.TrackType
	Period    uint32
}

// ContentCPIX builds a CPIX 2.3 document (CPIX 2.3 §5.2) holding clear keys
// for contentID: one ContentKey per key (with @explicitIV when the key has a
// constant IV), one ContentKeyUsageRule per key naming its
// intendedTrackType with the SPEKE v2 video/audio filters (CPIX 2.3 §5.3.6),
// and ContentKeyPeriods with KeyPeriodFilters when a key belongs to a
// crypto period other than 0 (§5.3.5). The caller encrypts the keys
// (cpix.EncryptKeys) before the document leaves the process.
func ContentCPIX(contentID string, ks []CPIXKey) *cpix.Document {
	d := &cpix.Document{ContentID: contentID, Version: cpix.Version23}
	rotation := false
	for _, k := range ks {
		rotation = rotation || k.Period != 0
	}
	periods := map[uint32]bool{}
	for _, k := range ks {
		ck := cpix.ContentKey{KID: k.Key.KID, Value: append([]byte{}, k.Key.Key...)}
		switch len(k.Key.IV) {
		case 16:
			ck.ExplicitIV = append([]byte{}, k.Key.IV...)
		case 8:
			// ISO/IEC 23001-7 §9.1: an 8-byte IV is the high half of the
			// 16-byte counter block.
			ck.ExplicitIV = append(append([]byte{}, k.Key.IV...), make([]byte, 8)...)
		}
		d.ContentKeys = append(d.ContentKeys, ck)
		rule := cpix.ContentKeyUsageRule{KID: k.Key.KID}
		speke.UsageRuleFor(k.TrackType, &rule)
		if rotation {
			id := "period-" + strconv.FormatUint(uint64(k.Period), 10)
			if !periods[k.Period] {
				periods[k.Period] = true
				idx := k.Period
				d.ContentKeyPeriods = append(d.ContentKeyPeriods, cpix.ContentKeyPeriod{ID: id, Index: &idx})
			}
			rule.KeyPeriodFilters = []cpix.KeyPeriodFilter{{PeriodID: id}}
		}
		d.UsageRules = append(d.UsageRules, rule)
	}
	return d
}

// ParseCertificatePEM parses the first CERTIFICATE block of b.
func ParseCertificatePEM(b []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// brokerKeys is what the broker needs of the key store.
type brokerKeys interface {
	GetOrCreate(ctx context.Context, contentID string, t keys.TrackType, period uint32) (keys.ContentKey, error)
}

// brokerHandlers serve the broker endpoints; key == nil means the feature
// is off and both answer 404.
type brokerHandlers struct {
	key    []byte
	maxTTL time.Duration
	keys   brokerKeys
	auth   Authenticator
	// audit writes one row (issued URLs, deliveries); refusals are only
	// counted (refused), and written aggregated per window.
	audit   func(ctx context.Context, e apikey.Entry) error
	refused interface{ Add(apikey.Entry) }
	// limit is the per-client-IP limit of the unauthenticated endpoint,
	// applied before anything else; nil = none.
	limit    ipLimiter
	clientIP func(*http.Request) netip.Addr
	log      *slog.Logger
	now      func() time.Time
}

// ipLimiter is the per-client rate limit (license.Limiter).
type ipLimiter interface {
	AllowIP(ip netip.Addr) (bool, time.Duration)
}

// brokerDeps are what the broker endpoints use besides the key store.
type brokerDeps struct {
	Auth Authenticator
	// ClientIP resolves the client address (trusted proxies applied).
	ClientIP func(*http.Request) netip.Addr
	// Refused aggregates refused requests into the audit log.
	Refused *apikey.Aggregator
	Log     *slog.Logger
}

// brokerRoutes mounts POST /v1/admin/broker-urls and GET|POST
// /v1/broker/cpix. A key that does not decode turns the feature off with an
// error log (config.Validate refuses it before `drmpipe serve` gets here).
func brokerRoutes(cfg config.KeysConfig, ks *keystore.KeyStore, deps brokerDeps) []Route {
	key, err := ParseBrokerKey(cfg.BrokerHMACKey)
	if err != nil {
		deps.Log.Error("strict-broker key delivery disabled", "error", err.Error())
		key = nil
	}
	h := &brokerHandlers{key: key, maxTTL: cfg.BrokerURLTTL, keys: ks, auth: deps.Auth, audit: ks.Audit, refused: deps.Refused,
		clientIP: deps.ClientIP, log: deps.Log, now: time.Now}
	if cfg.BrokerRateLimit > 0 {
		h.limit = license.NewLimiter(license.RateLimitConfig{PerIP: license.Rate{PerSecond: cfg.BrokerRateLimit, Burst: cfg.BrokerRateBurst}}, nil)
	}
	return h.routes()
}

func (h *brokerHandlers) routes() []Route {
	if h.maxTTL <= 0 {
		h.maxTTL = 10 * time.Minute
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.clientIP == nil {
		h.clientIP = func(r *http.Request) netip.Addr {
			ap, _ := netip.ParseAddrPort(r.RemoteAddr)
			return ap.Addr().Unmap()
		}
	}
	fetch := http.HandlerFunc(h.fetch)
	return []Route{
		{"POST /v1/admin/broker-urls", http.HandlerFunc(h.issue)},
		{"GET " + BrokerPath, fetch},
		{"POST " + BrokerPath, fetch},
	}
}

var errBrokerOff = httperr.New(http.StatusNotFound, httperr.CodeNotFound, "no such endpoint")

// issue: POST /v1/admin/broker-urls {contentId, keysPer, ttl, recipient |
// certificate} -> {url, expiresAt}; admin scope.
func (h *brokerHandlers) issue(w http.ResponseWriter, r *http.Request) {
	if h.key == nil {
		httperr.Write(w, r, h.log, errBrokerOff)
		return
	}
	who, err := h.auth.Authenticate(r, "admin")
	if err != nil {
		httperr.Write(w, r, h.log, err)
		return
	}
	var req struct {
		ContentID   string `json:"contentId"`
		KeysPer     string `json:"keysPer"`
		TTL         string `json:"ttl"`
		Recipient   string `json:"recipient"`
		Certificate string `json:"certificate"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httperr.Write(w, r, h.log, badRequest("body must be JSON {contentId, keysPer, ttl, recipient | certificate}"))
		return
	}
	g := BrokerGrant{ContentID: req.ContentID, KeysPer: KeysPerAsset, Recipient: req.Recipient}
	if req.KeysPer != "" {
		if g.KeysPer, err = ParseKeysPer(req.KeysPer); err != nil {
			httperr.Write(w, r, h.log, badRequest("keysPer must be asset or track-type"))
			return
		}
	}
	if err := checkContentID("contentId", req.ContentID); err != nil {
		httperr.Write(w, r, h.log, err)
		return
	}
	ttl := h.maxTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > h.maxTTL {
			httperr.Write(w, r, h.log, badRequest("ttl must be a duration up to "+h.maxTTL.String()))
			return
		}
		ttl = d
	}
	if req.Certificate != "" {
		cert, err := ParseCertificatePEM([]byte(req.Certificate))
		if err != nil {
			httperr.Write(w, r, h.log, badRequest("certificate must be a PEM X.509 certificate"))
			return
		}
		fp := RecipientFingerprint(cert)
		if g.Recipient != "" && g.Recipient != fp {
			httperr.Write(w, r, h.log, badRequest("recipient and certificate name different keys"))
			return
		}
		g.Recipient = fp
	}
	if g.Recipient != "" && !validFingerprint(g.Recipient) {
		httperr.Write(w, r, h.log, badRequest("recipient must be the lower-case hex SHA-256 of the certificate's SubjectPublicKeyInfo"))
		return
	}
	g.Expires = time.Unix(h.now().Add(ttl).Unix(), 0)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, err := SignBrokerURL(h.key, scheme+"://"+r.Host, g)
	if err != nil {
		httperr.Write(w, r, h.log, httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, "cannot sign a broker URL for this request"))
		return
	}
	h.record(r.Context(), apikey.Entry{Actor: who, Action: "broker.issue", Target: g.ContentID,
		Detail: fmt.Sprintf("keysPer=%s expires=%s recipient=%s", g.KeysPer, g.Expires.UTC().Format(time.RFC3339), orAny(g.Recipient))})
	_ = writeJSON(w, http.StatusOK, map[string]any{"url": u, "expiresAt": g.Expires.UTC()})
}

// fetch: GET|POST /v1/broker/cpix?content=&keysPer=&exp=[&recipient=]&sig=.
// No API key: the signature is the credential. The recipient certificate
// comes as the POST body (PEM) or, with GET, as the cert parameter
// (base64url DER, outside the signature: it is bound through recipient
// when the URL names one). Every answer is audited: a delivery with a row
// of its own; refusals, which anyone can cause without a credential,
// aggregated (one row per client, reason and content ID per window, with
// the count), after the per-client rate limit and the signature check,
// which touch no store.
func (h *brokerHandlers) fetch(w http.ResponseWriter, r *http.Request) {
	if h.key == nil {
		httperr.Write(w, r, h.log, errBrokerOff)
		return
	}
	q := r.URL.Query()
	ip := h.clientIP(r)
	actor := "broker:" + ipString(ip)
	refuse := func(he error, reason string) {
		if h.refused != nil {
			h.refused.Add(apikey.Entry{Actor: actor, Action: apikey.ActionBrokerRefuse, Target: auditTarget(q.Get(brokerParamContent)), Detail: reason})
		}
		httperr.Write(w, r, h.log, he)
	}
	if h.limit != nil {
		if ok, wait := h.limit.AllowIP(ip); !ok {
			e := httperr.New(http.StatusTooManyRequests, httperr.CodeRateLimited, "too many broker requests from this client")
			e.RetryAfter = license.RetryAfterSeconds(wait)
			refuse(e, "rate limited")
			return
		}
	}
	g, err := VerifyBrokerQuery(h.key, q, h.now(), h.maxTTL)
	if err != nil {
		reason := "invalid signature"
		msg := "the broker URL is invalid or was tampered with"
		code := httperr.CodeForbidden
		switch {
		case errors.Is(err, ErrBrokerExpired):
			reason, msg, code = "expired", "the broker URL has expired", httperr.CodeTokenExpired
		case errors.Is(err, ErrBrokerLifetime):
			reason, msg = "lifetime over broker_url_ttl", "the broker URL is valid for longer than this server allows"
		}
		refuse(httperr.Wrap(err, http.StatusForbidden, code, msg), reason)
		return
	}
	cert, err := brokerCertificate(r)
	if err != nil {
		refuse(httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest,
			"a recipient certificate is required: POST it as PEM, or GET with cert=<base64url DER>"), "no valid recipient certificate")
		return
	}
	fp := RecipientFingerprint(cert)
	if g.Recipient != "" && !hmac.Equal([]byte(fp), []byte(g.Recipient)) {
		refuse(httperr.New(http.StatusForbidden, httperr.CodeForbidden, "the certificate is not the recipient this URL was issued for"),
			"recipient mismatch: got "+fp)
		return
	}
	var list []CPIXKey
	for _, t := range g.KeysPer.TrackTypes() {
		k, err := h.keys.GetOrCreate(r.Context(), g.ContentID, t, 0)
		if err != nil {
			refuse(storeError(err), "key store: "+t.String())
			return
		}
		list = append(list, CPIXKey{Key: k, TrackType: t})
	}
	doc := ContentCPIX(g.ContentID, list)
	defer func() {
		for i := range doc.ContentKeys {
			clear(doc.ContentKeys[i].Value)
		}
	}()
	if err := cpix.EncryptKeys(doc, cert); err != nil {
		refuse(httperr.Wrap(err, http.StatusUnprocessableEntity, httperr.CodeInvalidRequest,
			"cannot encrypt keys to this certificate (an RSA key of 2048 bits or more is needed)"), "unusable recipient certificate")
		return
	}
	out, err := cpix.Marshal(doc)
	if err != nil {
		refuse(httperr.Wrap(err, http.StatusInternalServerError, httperr.CodeInternal, "cannot write the CPIX document"), "marshal")
		return
	}
	kids := make([]string, len(list))
	for i, k := range list {
		kids[i] = k.Key.KID.String()
	}
	h.record(r.Context(), apikey.Entry{Actor: actor, Action: apikey.ActionBrokerFetch, Target: g.ContentID,
		Detail: fmt.Sprintf("keysPer=%s recipient=%s expires=%s kids=%s", g.KeysPer, fp, g.Expires.UTC().Format(time.RFC3339), strings.Join(kids, ","))})
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(out)
}

// brokerCertificate reads the worker's certificate: the PEM body of a POST,
// or the cert parameter (base64url DER) of a GET.
func brokerCertificate(r *http.Request) (*x509.Certificate, error) {
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBrokerCert+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxBrokerCert {
			return nil, errors.New("certificate body too large")
		}
		return ParseCertificatePEM(b)
	}
	v := r.URL.Query().Get(brokerParamCert)
	if v == "" || len(v) > maxBrokerCert {
		return nil, errors.New("no cert parameter")
	}
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func (h *brokerHandlers) record(ctx context.Context, e apikey.Entry) {
	if h.audit == nil {
		return
	}
	if len(e.Detail) > apikey.MaxAuditDetail {
		e.Detail = e.Detail[:apikey.MaxAuditDetail]
	}
	// The audit write must not be cancelled by a client that hung up.
	if err := h.audit(context.WithoutCancel(ctx), e); err != nil {
		h.log.Warn("audit log write failed", "action", e.Action, "error", err.Error())
	}
}

// auditTarget keeps a client-supplied content ID only if it is a valid one
// (keys.ValidateContentID).
func auditTarget(s string) string {
	if keys.ValidateContentID(s) != nil {
		return "(invalid)"
	}
	return s
}

func ipString(ip netip.Addr) string {
	if !ip.IsValid() {
		return "unknown"
	}
	return ip.String()
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}
