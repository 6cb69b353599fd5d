// Package license serves licenses: the W3C Clear Key license server
// (ClearKeyHandler) and the one vendor gateway (Gateway: Widevine,
// PlayReady, FairPlay, with the challenge decoders of drm/<system>), and
// what both share: the request flow (body limit, token extraction, rate
// limits, authorization through entitlement, read-through cache with
// single-flight), the mapping of refusals and upstream failures to the one
// error schema of httperr, CORS, and the kinds vendor upstreams exchange
// (Call, Response). Vendor adapters with their resilience policies, and the
// builder of each vendor's gateway, are in license/upstream.
package license

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
)

// DefaultMaxBodyBytes bounds license request bodies. CDM challenges are a
// few KiB (a PlayReady SOAP challenge is the largest, ~4 KiB).
const DefaultMaxBodyBytes = 64 << 10

// EndpointConfig is the configuration every license endpoint shares.
type EndpointConfig struct {
	// TokenHeader is an extra request header carrying the playback token for
	// players that cannot set Authorization (e.g. "X-Playback-Token").
	// Authorization: Bearer is always accepted and wins when both are sent.
	TokenHeader string `yaml:"tokenHeader" json:"tokenHeader"`
	// MaxBodyBytes bounds the request body; 0 = DefaultMaxBodyBytes.
	MaxBodyBytes int64 `yaml:"maxBodyBytes" json:"maxBodyBytes"`
	// CacheTTL caps how long a license is kept in the cache (the token's
	// expiry caps it further); 0 = the token's expiry alone.
	CacheTTL time.Duration `yaml:"cacheTTL" json:"cacheTTL"`
}

// Validate checks the configuration.
func (c EndpointConfig) Validate() error {
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("%w: maxBodyBytes %d", ErrConfig, c.MaxBodyBytes)
	}
	if c.TokenHeader != "" && strings.ContainsAny(c.TokenHeader, " :\t\r\n") {
		return fmt.Errorf("%w: tokenHeader %q is not a header name", ErrConfig, c.TokenHeader)
	}
	return nil
}

// Deps are the collaborators every license endpoint shares.
type Deps struct {
	// Authorizer decides each request (required).
	Authorizer entitlement.Authorizer
	// Cache is the license cache; nil = no cache (single-flight still
	// merges concurrent duplicates).
	Cache Cache
	// Limiter applies per-IP and per-user rate limits; nil = none. Share one
	// Limiter across endpoints so a viewer's budget is global.
	Limiter *Limiter
	// Log receives refusals and failures (with causes); nil = discard.
	Log *slog.Logger
	// ClientIP returns the viewer's address after trusted-proxy resolution;
	// nil = the connection's remote address.
	ClientIP func(*http.Request) netip.Addr
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// Call is one request to a vendor license server.
type Call struct {
	System drm.System
	Kind   CallKind
	// Challenge is the CDM message (SPC for FairPlay), decoded from any
	// player wrapping; empty for a certificate request.
	Challenge []byte
	// ContentType is the content type the player sent.
	ContentType string
	// Header holds pass-through request headers (traceparent, tracestate,
	// SOAPAction).
	Header http.Header
	// Decision is the granted entitlement the adapter maps to vendor fields.
	Decision entitlement.Decision
}

// CallKind says what a Call asks the upstream for.
type CallKind uint8

// Call kinds.
const (
	CallLicense CallKind = iota + 1
	CallCertificate
)

// Response is a license (or certificate) answer, returned to the player
// unchanged with status 200.
type Response struct {
	ContentType string
	Body        []byte
	// CacheHit reports an answer from the license cache (not stored).
	CacheHit bool `json:"-"`
}

// Upstream answers Calls; license/upstream implements it.
type Upstream interface {
	Do(ctx context.Context, call Call) (Response, error)
}

// PassThroughHeaders are the request headers forwarded to upstreams: W3C
// Trace Context and the PlayReady SOAP action (the SOAPAction header the
// PlayReady CDM's key message names).
var PassThroughHeaders = []string{"Traceparent", "Tracestate", "Soapaction"}

// Endpoint is the shared request flow of one license endpoint.
type Endpoint struct {
	cfg    EndpointConfig
	deps   Deps
	system drm.System
	flight flight
}

// NewEndpoint validates cfg and deps for the endpoint of system.
func NewEndpoint(cfg EndpointConfig, system drm.System, deps Deps) (*Endpoint, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Authorizer == nil {
		return nil, fmt.Errorf("%w: %s endpoint without an authorizer", ErrConfig, system)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.ClientIP == nil {
		deps.ClientIP = RemoteIP
	}
	return &Endpoint{cfg: cfg, deps: deps, system: system}, nil
}

// System is the DRM of the endpoint.
func (e *Endpoint) System() drm.System { return e.system }

// Log is the endpoint's logger.
func (e *Endpoint) Log() *slog.Logger { return e.deps.Log }

// Cache is the endpoint's cache (nil = none).
func (e *Endpoint) Cache() Cache { return e.deps.Cache }

// RemoteIP is the address of the connection's peer.
func RemoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Admission is what the shared request flow learned about one request
// before its body is decoded: the viewer's address, the body, and the
// playback token, read from the headers once.
type Admission struct {
	IP    netip.Addr
	Body  []byte
	Token string
}

// token returns the playback token: "Authorization: Bearer <t>" (RFC 6750
// §2.1), else the configured token header. Empty when absent.
func (e *Endpoint) token(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	if e.cfg.TokenHeader != "" {
		v := strings.TrimSpace(r.Header.Get(e.cfg.TokenHeader))
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			v = strings.TrimSpace(v[7:])
		}
		return v
	}
	return ""
}

// Admit refuses a method other than POST (405), applies the per-IP rate
// limit, reads the body within the size limit and takes the playback token
// from the headers: the one place a license request without a token is
// refused (401, before its body is decoded).
func (e *Endpoint) Admit(w http.ResponseWriter, r *http.Request) (Admission, error) {
	if r.Method != http.MethodPost {
		return Admission{}, MethodNotAllowed(w, "POST, OPTIONS")
	}
	adm := Admission{IP: e.deps.ClientIP(r)}
	if e.deps.Limiter != nil {
		if ok, wait := e.deps.Limiter.AllowIP(adm.IP); !ok {
			return adm, rateLimited(wait, "client")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return adm, httperr.New(http.StatusRequestEntityTooLarge, httperr.CodeTooLarge, fmt.Sprintf("request body larger than %d bytes", e.cfg.MaxBodyBytes))
		}
		return adm, httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, "cannot read request body")
	}
	adm.Body = body
	if adm.Token = e.token(r); adm.Token == "" {
		// RFC 6750 §3.1: a request without credentials gets a challenge
		// without an error code.
		he := httperr.New(http.StatusUnauthorized, httperr.CodeUnauthorized, "playback token required")
		he.Challenge = bearerChallenge
		return adm, he
	}
	return adm, nil
}

// Authorize runs the entitlement decision for req with the admitted
// token and address (the one verification of the token) and applies the
// per-user rate limit.
func (e *Endpoint) Authorize(ctx context.Context, adm Admission, req entitlement.Request) (entitlement.Decision, error) {
	req.Token, req.ClientIP, req.System = adm.Token, adm.IP, e.system
	dec, err := e.deps.Authorizer.Authorize(ctx, req)
	if err != nil {
		return dec, DenyToHTTP(err)
	}
	if e.deps.Limiter != nil {
		if ok, wait := e.deps.Limiter.AllowUser(dec.Subject); !ok {
			return dec, rateLimited(wait, "user")
		}
	}
	return dec, nil
}

// Serve answers from the cache, or computes the answer once for concurrent
// duplicates (single-flight) and stores it until the token expires. The
// cache key is the token's jti and a hash of (DRM, request body); without a
// jti nothing is cached. compute runs detached from the caller's
// cancellation so one client going away does not fail the others waiting on
// the same flight; it must bound itself (upstreams have timeouts).
func (e *Endpoint) Serve(ctx context.Context, body []byte, dec entitlement.Decision, useCache bool, compute func(context.Context) (Response, error)) (Response, error) {
	if dec.JTI == "" {
		return compute(ctx)
	}
	key := CacheKey(dec.JTI, e.system, body)
	cache := e.deps.Cache
	if !useCache {
		cache = nil
	}
	if cache != nil {
		if resp, ok := cache.Get(ctx, key); ok {
			resp.CacheHit = true
			return resp, nil
		}
	}
	return e.flight.do(ctx, key, func() (Response, error) {
		cctx := context.WithoutCancel(ctx)
		resp, err := compute(cctx)
		if err != nil || cache == nil {
			return resp, err
		}
		ttl := dec.TokenExpiry.Sub(e.deps.Now())
		if e.cfg.CacheTTL > 0 {
			ttl = min(ttl, e.cfg.CacheTTL)
		}
		if ttl >= time.Second {
			cache.Set(cctx, key, resp, Tags{JTI: dec.JTI, User: dec.Subject, Device: dec.DeviceID, Content: dec.ContentID}, ttl)
		}
		return resp, nil
	})
}

// CacheHeader tells whether a license came from the license cache ("hit"
// or "miss"), for metrics and operators; it carries no secret.
const CacheHeader = "X-Drmpipe-Cache"

// WriteResponse answers 200 with resp's body, never cacheable by HTTP
// caches (licenses are per viewer).
func WriteResponse(w http.ResponseWriter, resp Response) {
	ct := resp.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if resp.CacheHit {
		w.Header().Set(CacheHeader, "hit")
	} else {
		w.Header().Set(CacheHeader, "miss")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp.Body)
}

// bearerChallenge is the RFC 6750 §3 challenge of a 401.
const bearerChallenge = `Bearer realm="` + httperr.Realm + `"`

// WriteError answers err with the error schema (httperr). A 401 carries
// the challenge RFC 9110 §11.6.1 requires on every 401: the RFC 6750 §3
// Bearer challenge, without an error code when no playback token was sent
// (Admit sets that one), with error="invalid_token" when one was sent and
// refused (§3.1): every other 401 is a refused token.
func (e *Endpoint) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httperr.Error
	if errors.As(err, &he) && he.Status == http.StatusUnauthorized && he.Challenge == "" {
		// A copy: the error may be shared by the waiters of one flight.
		c := *he
		c.Challenge = bearerChallenge + `, error="invalid_token"`
		err = &c
	}
	httperr.Write(w, r, e.deps.Log, err)
}

// MethodNotAllowed is the error for a wrong method; allow lists the methods.
func MethodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return httperr.New(http.StatusMethodNotAllowed, httperr.CodeMethodNotAllowed, "method not allowed")
}

// PassThrough copies the PassThroughHeaders of r.
func PassThrough(r *http.Request) http.Header {
	h := http.Header{}
	for _, k := range PassThroughHeaders {
		if v := r.Header.Values(k); len(v) > 0 {
			h[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
		}
	}
	return h
}
