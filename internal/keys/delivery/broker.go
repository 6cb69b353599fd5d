// Package delivery is strict-broker key delivery: a packaging worker
// fetches the keys of one job, as a CPIX document encrypted to its
// certificate, through an expiring URL signed with the broker HMAC key.
// It signs and verifies those URLs (for `drmpipe keys broker-url` and the
// admin API), builds the CPIX export of a content's keys (also `drmpipe
// keys export --cpix`) and serves the two broker endpoints.
package delivery

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
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/enum"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
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

// Sentinel errors of broker URL signing and verification.
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
	brokerParamPeriods   = "periods"
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
func (k KeysPer) String() string { return keysPerNames.String(k) }

var keysPerNames = enum.Names[KeysPer]{KeysPerAsset: "asset", KeysPerTrackType: "track-type"}

// ParseKeysPer parses "asset" or "track-type".
func ParseKeysPer(s string) (KeysPer, error) {
	return keysPerNames.Lookup(s, ErrBrokerURL, "keysPer")
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
	// Periods > 0 delivers key periods 0..Periods-1 (key rotation) with a
	// ContentKeyPeriodList and KeyPeriodFilters (CPIX 2.3 §5.3.5); 0
	// delivers period 0 without them. At most MaxBrokerPeriods.
	Periods uint32
}

// MaxBrokerPeriods bounds the key periods of one broker URL: every period
// is a key per track type made in the store and a ContentKey in the answer,
// which a worker reads up to 16 MiB (2048 periods of 5 track types, keys
// encrypted to RSA 2048, is 9.6 MiB).
const MaxBrokerPeriods = 2048

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
// grant, so that no two grants share a message. A grant with periods is
// version 2 (one more field); one without keeps the version 1 message, so
// URLs signed before periods existed stay valid.
func brokerMAC(key []byte, g BrokerGrant) []byte {
	m := hmac.New(sha256.New, key)
	fields := []string{g.ContentID, g.KeysPer.String(), strconv.FormatInt(g.Expires.Unix(), 10), g.Recipient}
	if g.Periods > 0 {
		m.Write([]byte("drmpipe-broker-v2"))
		fields = append(fields, strconv.FormatUint(uint64(g.Periods), 10))
	} else {
		m.Write([]byte("drmpipe-broker-v1"))
	}
	for _, f := range fields {
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
	if g.Periods > MaxBrokerPeriods {
		return "", fmt.Errorf("%w: %d key periods, at most %d", ErrBrokerURL, g.Periods, MaxBrokerPeriods)
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
	if g.Periods > 0 {
		q.Set(brokerParamPeriods, strconv.FormatUint(uint64(g.Periods), 10))
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
	for _, p := range []string{brokerParamContent, brokerParamKeysPer, brokerParamExp, brokerParamRecipient, brokerParamPeriods, brokerParamSig} {
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
	if p := q.Get(brokerParamPeriods); p != "" {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n == 0 || n > MaxBrokerPeriods || strconv.FormatUint(n, 10) != p {
			return BrokerGrant{}, fmt.Errorf("%w: periods: want 1..%d", ErrBrokerURL, MaxBrokerPeriods)
		}
		g.Periods = uint32(n)
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
	rotation := false
	for _, k := range ks {
		rotation = rotation || k.Period != 0
	}
	return contentCPIX(contentID, ks, rotation)
}

// contentCPIX is ContentCPIX with the ContentKeyPeriodList written when
// rotation is set, even if every key is of period 0 (a title shorter than
// one key period under rotation).
func contentCPIX(contentID string, ks []CPIXKey, rotation bool) *cpix.Document {
	d := &cpix.Document{ContentID: contentID, Version: cpix.Version23}
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

// KeySource is what the broker needs of the key store.
type KeySource interface {
	GetOrCreate(ctx context.Context, contentID string, t keys.TrackType, period uint32) (keys.ContentKey, error)
}

// Authenticator checks an API credential for a scope (here "admin");
// apikey.HTTPAuthenticator implements it.
type Authenticator interface {
	Authenticate(r *http.Request, scope string) (principal string, err error)
}

// IPLimiter is the per-client rate limit of the unauthenticated endpoint
// (license.Limiter).
type IPLimiter interface {
	AllowIP(ip netip.Addr) (bool, time.Duration)
}

// Config configures the broker endpoints.
type Config struct {
	// Key is the decoded keys.broker_hmac_key (ParseBrokerKey); nil turns
	// the broker off and both endpoints answer 404.
	Key []byte
	// MaxTTL bounds the lifetime of a URL (keys.broker_url_ttl); 0 = 10
	// minutes.
	MaxTTL time.Duration
}

// Deps are the broker's collaborators.
type Deps struct {
	Keys KeySource
	Auth Authenticator
	// Audit writes one row (issued URLs, deliveries); nil = none.
	Audit func(ctx context.Context, e apikey.Entry) error
	// Refused counts refusals, written aggregated per window; nil = none.
	Refused interface{ Add(apikey.Entry) }
	// Limit is the per-client-IP limit of the unauthenticated endpoint,
	// applied before anything else; nil = none.
	Limit IPLimiter
	// ClientIP resolves the client address (trusted proxies applied); nil
	// = the connection's address.
	ClientIP func(*http.Request) netip.Addr
	// Log gets refusals and audit write failures; nil = slog.Default.
	Log *slog.Logger
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// Handler serves POST /v1/admin/broker-urls (Issue) and GET|POST
// /v1/broker/cpix (Fetch).
type Handler struct {
	key    []byte
	maxTTL time.Duration
	deps   Deps
}

// NewHandler returns the broker endpoints.
func NewHandler(cfg Config, deps Deps) *Handler {
	h := &Handler{key: cfg.Key, maxTTL: cfg.MaxTTL, deps: deps}
	if h.maxTTL <= 0 {
		h.maxTTL = 10 * time.Minute
	}
	if h.deps.Now == nil {
		h.deps.Now = time.Now
	}
	if h.deps.Log == nil {
		h.deps.Log = slog.Default()
	}
	if h.deps.ClientIP == nil {
		h.deps.ClientIP = func(r *http.Request) netip.Addr {
			ap, _ := netip.ParseAddrPort(r.RemoteAddr)
			return ap.Addr().Unmap()
		}
	}
	return h
}

var errBrokerOff = httperr.New(http.StatusNotFound, httperr.CodeNotFound, "no such endpoint")

// Issue: POST /v1/admin/broker-urls {contentId, keysPer, ttl, recipient |
// certificate} -> {url, expiresAt}; admin scope.
func (h *Handler) Issue(w http.ResponseWriter, r *http.Request) {
	if h.key == nil {
		httperr.Write(w, r, h.deps.Log, errBrokerOff)
		return
	}
	who, err := h.deps.Auth.Authenticate(r, "admin")
	if err != nil {
		httperr.Write(w, r, h.deps.Log, err)
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
		httperr.Write(w, r, h.deps.Log, badRequest("body must be JSON {contentId, keysPer, ttl, recipient | certificate}"))
		return
	}
	g := BrokerGrant{ContentID: req.ContentID, KeysPer: KeysPerAsset, Recipient: req.Recipient}
	if req.KeysPer != "" {
		if g.KeysPer, err = ParseKeysPer(req.KeysPer); err != nil {
			httperr.Write(w, r, h.deps.Log, badRequest("keysPer must be asset or track-type"))
			return
		}
	}
	if err := keys.ValidateContentID(req.ContentID); err != nil {
		httperr.Write(w, r, h.deps.Log, badRequest("contentId: "+err.Error()))
		return
	}
	ttl := h.maxTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > h.maxTTL {
			httperr.Write(w, r, h.deps.Log, badRequest("ttl must be a duration up to "+h.maxTTL.String()))
			return
		}
		ttl = d
	}
	if req.Certificate != "" {
		cert, err := ParseCertificatePEM([]byte(req.Certificate))
		if err != nil {
			httperr.Write(w, r, h.deps.Log, badRequest("certificate must be a PEM X.509 certificate"))
			return
		}
		fp := RecipientFingerprint(cert)
		if g.Recipient != "" && g.Recipient != fp {
			httperr.Write(w, r, h.deps.Log, badRequest("recipient and certificate name different keys"))
			return
		}
		g.Recipient = fp
	}
	if g.Recipient != "" && !validFingerprint(g.Recipient) {
		httperr.Write(w, r, h.deps.Log, badRequest("recipient must be the lower-case hex SHA-256 of the certificate's SubjectPublicKeyInfo"))
		return
	}
	g.Expires = time.Unix(h.deps.Now().Add(ttl).Unix(), 0)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, err := SignBrokerURL(h.key, scheme+"://"+r.Host, g)
	if err != nil {
		httperr.Write(w, r, h.deps.Log, httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, "cannot sign a broker URL for this request"))
		return
	}
	h.record(r.Context(), apikey.Entry{Actor: who, Action: "broker.issue", Target: g.ContentID,
		Detail: fmt.Sprintf("keysPer=%s expires=%s recipient=%s", g.KeysPer, g.Expires.UTC().Format(time.RFC3339), orAny(g.Recipient))})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"url": u, "expiresAt": g.Expires.UTC()})
}

// Fetch: GET|POST /v1/broker/cpix?content=&keysPer=&exp=[&recipient=]&sig=.
// No API key: the signature is the credential. The recipient certificate
// comes as the POST body (PEM) or, with GET, as the cert parameter
// (base64url DER, outside the signature: it is bound through recipient
// when the URL names one). Every answer is audited: a delivery with a row
// of its own; refusals, which anyone can cause without a credential,
// aggregated (one row per client, reason and content ID per window, with
// the count), after the per-client rate limit and the signature check,
// which touch no store.
func (h *Handler) Fetch(w http.ResponseWriter, r *http.Request) {
	if h.key == nil {
		httperr.Write(w, r, h.deps.Log, errBrokerOff)
		return
	}
	q := r.URL.Query()
	ip := h.deps.ClientIP(r)
	actor := "broker:" + ipString(ip)
	refuse := func(he error, reason string) {
		if h.deps.Refused != nil {
			h.deps.Refused.Add(apikey.Entry{Actor: actor, Action: apikey.ActionBrokerRefuse, Target: auditTarget(q.Get(brokerParamContent)), Detail: reason})
		}
		httperr.Write(w, r, h.deps.Log, he)
	}
	if h.deps.Limit != nil {
		if ok, wait := h.deps.Limit.AllowIP(ip); !ok {
			e := httperr.New(http.StatusTooManyRequests, httperr.CodeRateLimited, "too many broker requests from this client")
			e.RetryAfter = max(1, int(math.Ceil(wait.Seconds())))
			refuse(e, "rate limited")
			return
		}
	}
	g, err := VerifyBrokerQuery(h.key, q, h.deps.Now(), h.maxTTL)
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
	for p := range max(g.Periods, 1) {
		for _, t := range g.KeysPer.TrackTypes() {
			k, err := h.deps.Keys.GetOrCreate(r.Context(), g.ContentID, t, p)
			if err != nil {
				refuse(StoreError(err), fmt.Sprintf("key store: %s period %d", t, p))
				return
			}
			list = append(list, CPIXKey{Key: k, TrackType: t, Period: p})
		}
	}
	doc := contentCPIX(g.ContentID, list, g.Periods > 0)
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
		Detail: fmt.Sprintf("keysPer=%s periods=%d recipient=%s expires=%s kids=%s", g.KeysPer, max(g.Periods, 1), fp, g.Expires.UTC().Format(time.RFC3339), strings.Join(kids, ","))})
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

func (h *Handler) record(ctx context.Context, e apikey.Entry) {
	if h.deps.Audit == nil {
		return
	}
	if len(e.Detail) > apikey.MaxAuditDetail {
		e.Detail = e.Detail[:apikey.MaxAuditDetail]
	}
	// The audit write must not be cancelled by a client that hung up.
	if err := h.deps.Audit(context.WithoutCancel(ctx), e); err != nil {
		h.deps.Log.Warn("audit log write failed", "action", e.Action, "error", err.Error())
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

func badRequest(msg string) error {
	return httperr.New(http.StatusBadRequest, httperr.CodeInvalidRequest, msg)
}

// StoreError is the HTTP answer to a key store error (the broker and the
// admin API): 404 for an unknown key, 400 for a request the store refuses,
// otherwise a retryable 503.
func StoreError(err error) error {
	if errors.Is(err, keys.ErrKeyNotFound) {
		return httperr.New(http.StatusNotFound, httperr.CodeNotFound, "no such key")
	}
	if errors.Is(err, keys.ErrInvalidRequest) || errors.Is(err, keys.ErrUnknownTrackType) {
		return httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, "invalid key request")
	}
	return httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "key store unavailable")
}
