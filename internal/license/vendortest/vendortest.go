// Package vendortest provides httptest doubles of vendor license servers
// (generic, Axinom, castlabs DRMtoday, EZDRM, Widevine direct proxy API).
// Each double checks a request the way its vendor documents it
// (headers, query parameters, the Axinom JWT's claims and
// HS256 signature, DRMtoday custom data or HS512 upfront token, the Widevine
// request signature), answers a license derived from the challenge, and can
// be told to fail, stall or flap. It counts calls. The checks here are
// written independently of license/upstream so the two can catch each
// other's mistakes.
package vendortest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// Style is the vendor a double imitates.
type Style uint8

// Vendor styles.
const (
	Generic Style = iota + 1
	Axinom
	DRMtoday
	EZDRM
	WidevineDirect
)

// ErrorBody is what a failing double sends; tests check it never reaches
// players.
const ErrorBody = `{"error":"vendor internal detail 7f3a"}`

// Options configure what a double requires.
type Options struct {
	// Generic: headers and query parameters that must be present with
	// these exact values.
	Headers map[string]string
	Query   map[string]string
	// Axinom communication key ID (UUID) and key (base64).
	AxinomComKeyID, AxinomComKey string
	// DRMtoday merchant; with DRMtodayTokenSecret set, an upfront token
	// (x-dt-auth-token) is required, else custom data (x-dt-custom-data).
	DRMtodayMerchant, DRMtodayTokenSecret string
	// EZDRM pX value.
	EZDRMProfile string
	// Widevine direct: provider (signer) and hex signing key / IV.
	WidevineProvider, WidevineSigningKey, WidevineSigningIV string
	// Certificate is served to GET requests (FairPlay certificate URL).
	Certificate []byte
}

// Observed is what the double saw in the last request it accepted.
type Observed struct {
	Method      string
	Header      http.Header
	Query       url.Values
	Challenge   []byte
	ContentType string
	// Claims is the decoded JWT payload (Axinom message, DRMtoday token),
	// the DRMtoday custom data, or the Widevine inner request.
	Claims map[string]any
}

// Server is one vendor double on loopback.
type Server struct {
	srv   *httptest.Server
	style Style
	opts  Options

	mu        sync.Mutex
	calls     int
	failWith  int
	flap      bool
	flapNext  bool // next flapping call fails
	stall     time.Duration
	last      Observed
	rejection error
}

// New starts a double of style.
func New(style Style, opts Options) *Server {
	s := &Server{style: style, opts: opts}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the double's base URL; any path is accepted.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the double.
func (s *Server) Close() { s.srv.Close() }

// Calls is the number of requests received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Fail makes every request answer status (with ErrorBody).
func (s *Server) Fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith, s.flap, s.stall = status, false, 0
}

// Flap makes requests alternate: status, success, status, ...
func (s *Server) Flap(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith, s.flap, s.flapNext, s.stall = status, true, true, 0
}

// Stall makes every request wait d (or until the client gives up) before
// answering normally.
func (s *Server) Stall(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall, s.failWith, s.flap = d, 0, false
}

// Healthy restores normal answers.
func (s *Server) Healthy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith, s.flap, s.stall = 0, false, 0
}

// Last is the last accepted request.
func (s *Server) Last() Observed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Rejection is why the last malformed request was refused (nil if none).
func (s *Server) Rejection() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejection
}

// License is the license the doubles answer for challenge.
func License(challenge []byte) []byte {
	sum := sha256.Sum256(challenge)
	return []byte("license:" + hex.EncodeToString(sum[:16]))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	fail, stall := s.failWith, s.stall
	if s.flap {
		if !s.flapNext {
			fail = 0
		}
		s.flapNext = !s.flapNext
	}
	s.mu.Unlock()
	// Read the body first: only then does net/http notice a client that
	// gave up (and cancel r.Context()), so a stall ends with the client.
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	if stall > 0 {
		t := time.NewTimer(stall)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if fail != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fail)
		_, _ = io.WriteString(w, ErrorBody)
		return
	}
	if r.Method == http.MethodGet {
		if s.opts.Certificate == nil {
			http.Error(w, "no certificate", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(s.opts.Certificate)
		return
	}
	obs, err := s.check(r, body)
	if err != nil {
		s.mu.Lock()
		s.rejection = err
		s.mu.Unlock()
		http.Error(w, "rejected: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.last = obs
	s.mu.Unlock()
	lic := License(obs.Challenge)
	if s.style == WidevineDirect {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "OK", "license": base64.StdEncoding.EncodeToString(lic)})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(lic)
}

func (s *Server) check(r *http.Request, body []byte) (Observed, error) {
	obs := Observed{Method: r.Method, Header: r.Header.Clone(), Query: r.URL.Query(), ContentType: r.Header.Get("Content-Type")}
	if r.Method != http.MethodPost {
		return obs, fmt.Errorf("method %s, want POST", r.Method)
	}
	for k, v := range s.opts.Headers {
		if got := r.Header.Get(k); got != v {
			return obs, fmt.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	for k, v := range s.opts.Query {
		if got := obs.Query.Get(k); got != v {
			return obs, fmt.Errorf("query %s = %q, want %q", k, got, v)
		}
	}
	switch s.style {
	case WidevineDirect:
		return s.checkWidevine(obs, body)
	case Axinom:
		claims, err := verifyJWT(r.Header.Get("X-AxDRM-Message"), "HS256", mustB64(s.opts.AxinomComKey))
		if err != nil {
			return obs, fmt.Errorf("X-AxDRM-Message: %w", err)
		}
		if err := checkAxinom(claims, s.opts.AxinomComKeyID); err != nil {
			return obs, err
		}
		obs.Claims = claims
	case DRMtoday:
		if s.opts.DRMtodayTokenSecret != "" {
			claims, err := verifyJWT(r.Header.Get("x-dt-auth-token"), "HS512", []byte(s.opts.DRMtodayTokenSecret))
			if err != nil {
				return obs, fmt.Errorf("x-dt-auth-token: %w", err)
			}
			if err := checkDRMtodayToken(claims, s.opts.DRMtodayMerchant); err != nil {
				return obs, err
			}
			obs.Claims = claims
		} else {
			cd, err := checkCustomData(r.Header.Get("x-dt-custom-data"), s.opts.DRMtodayMerchant)
			if err != nil {
				return obs, err
			}
			obs.Claims = cd
		}
	case EZDRM:
		if got := obs.Query.Get("pX"); got == "" || got != s.opts.EZDRMProfile {
			return obs, fmt.Errorf("query pX = %q, want %q", got, s.opts.EZDRMProfile)
		}
	case Generic: // credentials as configured, nothing vendor-specific
	}
	ch, err := challenge(obs.ContentType, body)
	if err != nil {
		return obs, err
	}
	obs.Challenge = ch
	return obs, nil
}

// challenge decodes the body by content type: raw (octet-stream, text/xml
// for PlayReady), spc= form or {"spc"} JSON (FairPlay).
func challenge(ct string, body []byte) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(ct)
	var out []byte
	switch mt {
	case "application/octet-stream", "text/xml":
		out = body
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		if out, err = base64.StdEncoding.DecodeString(v.Get("spc")); err != nil {
			return nil, fmt.Errorf("spc not base64: %w", err)
		}
	case "application/json":
		var j struct{ SPC string }
		if err := json.Unmarshal(body, &j); err != nil {
			return nil, err
		}
		var err error
		if out, err = base64.StdEncoding.DecodeString(j.SPC); err != nil {
			return nil, fmt.Errorf("spc not base64: %w", err)
		}
	default:
		return nil, fmt.Errorf("content type %q", ct)
	}
	if len(out) == 0 {
		return nil, errors.New("empty challenge")
	}
	return out, nil
}

func mustB64(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

// verifyJWT checks a compact HMAC JWS (RFC 7515, RFC 7518 §3.2) with
// exactly alg and returns its claims.
func verifyJWT(tok, alg string, key []byte) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWT")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errors.New("header not base64url")
	}
	var hdr struct{ Alg, Typ string }
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr.Alg != alg {
		return nil, fmt.Errorf("alg %q, want %s", hdr.Alg, alg)
	}
	h := sha256.New
	if alg == "HS512" {
		h = sha512.New
	}
	m := hmac.New(h, key)
	m.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return nil, errors.New("bad signature")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("payload not base64url")
	}
	var claims map[string]any
	if err := json.Unmarshal(pb, &claims); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return claims, nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkAxinom checks a License Service Message carrying an Entitlement
// Message v2 (Axinom DRM documentation, "License Service Message" and
// "Entitlement Message").
func checkAxinom(c map[string]any, comKeyID string) error {
	if v, _ := c["version"].(float64); v != 1 {
		return fmt.Errorf("version %v, want 1", c["version"])
	}
	if c["com_key_id"] != comKeyID {
		return fmt.Errorf("com_key_id %v, want %s", c["com_key_id"], comKeyID)
	}
	if exp, ok := c["expiration_date"].(string); ok {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil || t.Before(time.Now()) {
			return fmt.Errorf("expiration_date %q passed or invalid", exp)
		}
	}
	msg, _ := c["message"].(map[string]any)
	if msg == nil || msg["type"] != "entitlement_message" {
		return errors.New("message.type is not entitlement_message")
	}
	if v, _ := msg["version"].(float64); v != 2 {
		return fmt.Errorf("message.version %v, want 2", msg["version"])
	}
	src, _ := msg["content_keys_source"].(map[string]any)
	inline, _ := src["inline"].([]any)
	if len(inline) == 0 {
		return errors.New("content_keys_source.inline empty")
	}
	policies := map[string]bool{}
	ps, _ := msg["content_key_usage_policies"].([]any)
	for _, p := range ps {
		if pm, ok := p.(map[string]any); ok {
			if n, ok := pm["name"].(string); ok {
				policies[n] = true
			}
		}
	}
	for _, k := range inline {
		km, _ := k.(map[string]any)
		id, _ := km["id"].(string)
		if !uuidRE.MatchString(id) {
			return fmt.Errorf("key id %q is not a UUID", id)
		}
		if up, ok := km["usage_policy"].(string); ok && !policies[up] {
			return fmt.Errorf("usage_policy %q not declared", up)
		}
	}
	return nil
}

// checkCustomData checks x-dt-custom-data: standard base64 of JSON
// {userId, sessionId, merchant} (castlabs DRMtoday custom data).
func checkCustomData(h, merchant string) (map[string]any, error) {
	if h == "" {
		return nil, errors.New("x-dt-custom-data missing")
	}
	b, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return nil, errors.New("x-dt-custom-data not base64")
	}
	var cd map[string]any
	if err := json.Unmarshal(b, &cd); err != nil {
		return nil, fmt.Errorf("x-dt-custom-data: %w", err)
	}
	for _, k := range []string{"userId", "sessionId", "merchant"} {
		if s, _ := cd[k].(string); s == "" {
			return nil, fmt.Errorf("x-dt-custom-data.%s missing", k)
		}
	}
	if cd["merchant"] != merchant {
		return nil, fmt.Errorf("merchant %v, want %s", cd["merchant"], merchant)
	}
	return cd, nil
}

// checkDRMtodayToken checks an upfront token: crt and optData are JSON
// documents carried as strings.
func checkDRMtodayToken(c map[string]any, merchant string) error {
	crtS, ok := c["crt"].(string)
	if !ok {
		return errors.New("crt is not a string")
	}
	var crt []map[string]any
	if err := json.Unmarshal([]byte(crtS), &crt); err != nil || len(crt) == 0 {
		return errors.New("crt is not a JSON array of rights")
	}
	if a, _ := crt[0]["assetId"].(string); a == "" {
		return errors.New("crt[0].assetId missing")
	}
	optS, ok := c["optData"].(string)
	if !ok {
		return errors.New("optData is not a string")
	}
	var opt map[string]any
	if err := json.Unmarshal([]byte(optS), &opt); err != nil || opt["merchant"] != merchant {
		return fmt.Errorf("optData.merchant, want %s", merchant)
	}
	if _, ok := c["iat"].(float64); !ok {
		return errors.New("iat missing")
	}
	if j, _ := c["jti"].(string); j == "" {
		return errors.New("jti missing")
	}
	return nil
}

// checkWidevine checks a signed proxy request: {request, signature, signer}
// with signature = AES-256-CBC(key, iv, PKCS#7(SHA-1(request JSON)))
// (Shaka Packager packager/media/base/request_signer.cc).
func (s *Server) checkWidevine(obs Observed, body []byte) (Observed, error) {
	var outer struct{ Request, Signature, Signer string }
	if err := json.Unmarshal(body, &outer); err != nil {
		return obs, fmt.Errorf("body: %w", err)
	}
	if outer.Signer != s.opts.WidevineProvider {
		return obs, fmt.Errorf("signer %q, want %q", outer.Signer, s.opts.WidevineProvider)
	}
	inner, err := base64.StdEncoding.DecodeString(outer.Request)
	if err != nil {
		return obs, errors.New("request not base64")
	}
	sig, err := base64.StdEncoding.DecodeString(outer.Signature)
	if err != nil {
		return obs, errors.New("signature not base64")
	}
	key, _ := hex.DecodeString(s.opts.WidevineSigningKey)
	iv, _ := hex.DecodeString(s.opts.WidevineSigningIV)
	block, err := aes.NewCipher(key)
	if err != nil || len(sig) != 32 || len(iv) != 16 {
		return obs, errors.New("bad signature size or signing key")
	}
	plain := make([]byte, len(sig))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, sig)
	sum := sha1.Sum(inner)
	want := append(sum[:], bytes.Repeat([]byte{12}, 12)...)
	if !bytes.Equal(plain, want) {
		return obs, errors.New("signature does not verify")
	}
	var req map[string]any
	if err := json.Unmarshal(inner, &req); err != nil {
		return obs, fmt.Errorf("inner request: %w", err)
	}
	if req["provider"] != s.opts.WidevineProvider {
		return obs, errors.New("inner provider mismatch")
	}
	p, _ := req["payload"].(string)
	ch, err := base64.StdEncoding.DecodeString(p)
	if err != nil || len(ch) == 0 {
		return obs, errors.New("payload missing or not base64")
	}
	if _, ok := req["content_id"].(string); !ok {
		return obs, errors.New("content_id missing")
	}
	obs.Challenge, obs.Claims = ch, req
	return obs, nil
}

// AllowAll is an entitlement.Authorizer that grants every request (user
// "u", content "movie", a token valid for a minute), for gateway tests
// whose subject is the exchange with the vendor rather than the policy.
type AllowAll struct{}

// Authorize implements entitlement.Authorizer.
func (AllowAll) Authorize(context.Context, entitlement.Request) (entitlement.Decision, error) {
	return entitlement.Decision{Subject: "u", ContentID: "movie", TokenExpiry: time.Now().Add(time.Minute)}, nil
}
