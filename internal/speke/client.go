package speke

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // RFC 9562 §5.5 name-based UUID, not a security use
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/confcheck"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// ClientConfig configures a SPEKE client (speke.client in the
// configuration file). Zero values take the Default* constants, except
// Retries: 0 means no retry.
type ClientConfig struct {
	// URL is the provider's copyProtection endpoint.
	URL string `koanf:"url" yaml:"url"`
	// Version is the SPEKE version: 1 or 2 (SPEKE v2.0, CPIX 2.3).
	Version int `koanf:"version" yaml:"version"`
	// Token, when set, is sent as "Authorization: Bearer <token>". Secret.
	Token string `koanf:"token" yaml:"token" secret:"true"`
	// Timeout bounds each attempt.
	Timeout time.Duration `koanf:"timeout" yaml:"timeout"`
	// Retries is the number of retries after a failed attempt on a 5xx
	// status or a transport error (0 = none; at most 10).
	Retries int `koanf:"retries" yaml:"retries"`
	// BackoffBase is the first retry delay before jitter; delays double per
	// retry up to BackoffMax, with full jitter.
	BackoffBase time.Duration `koanf:"backoff_base" yaml:"backoff_base"`
	BackoffMax  time.Duration `koanf:"backoff_max" yaml:"backoff_max"`
	// MaxResponseBytes bounds the response.
	MaxResponseBytes int64 `koanf:"max_response_bytes" yaml:"max_response_bytes"`
	// HTTPClient sends the requests (default: a client without a timeout of
	// its own; Timeout applies per attempt). Set by the program.
	HTTPClient *http.Client `koanf:"-" yaml:"-"`
}

// Client asks a SPEKE provider for keys and DRM signaling.
type Client struct {
	cfg  ClientConfig
	host string
}

// NewClient checks cfg and returns a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: provider URL must be an http(s) URL", ErrConfig)
	}
	switch cfg.Version {
	case 0:
		cfg.Version = DefaultClientVersion
	case 1, 2:
	default:
		return nil, fmt.Errorf("%w: SPEKE version %d (want 1 or 2)", ErrConfig, cfg.Version)
	}
	if cfg.Retries < 0 || cfg.Retries > 10 {
		return nil, fmt.Errorf("%w: retries %d (want 0 to 10)", ErrConfig, cfg.Retries)
	}
	cfg.Timeout = confcheck.PositiveOr(cfg.Timeout, DefaultClientTimeout)
	cfg.BackoffBase = confcheck.PositiveOr(cfg.BackoffBase, DefaultClientBackoff)
	cfg.BackoffMax = confcheck.PositiveOr(cfg.BackoffMax, DefaultClientBackoffMax)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	cfg.MaxResponseBytes = confcheck.PositiveOr(cfg.MaxResponseBytes, DefaultMaxResponseBytes)
	return &Client{cfg: cfg, host: u.Host}, nil
}

// ClientRequest is what the packager asks for.
type ClientRequest struct {
	ContentID string
	Scheme    cenc.Scheme
	// TrackTypes are the keys to get (default ALL). SPEKE v1 has one key
	// per request: every track type then maps to that key.
	TrackTypes []keys.TrackType
	Systems    []drm.System
	// Periods are the key periods for key rotation; empty = no
	// ContentKeyPeriodList. Periods with times make a SPEKE v2 request a
	// v2.1 one (CPIX 2.4).
	Periods []KeyPeriod
	// RecipientKey and RecipientCert, when set, ask for encrypted key
	// delivery to this certificate; a response with clear keys is refused.
	RecipientKey  *rsa.PrivateKey
	RecipientCert *x509.Certificate
}

// KeyPeriod is one requested key period: its index and, optionally, the
// time it covers (CPIX 2.4 @start/@end or @startOffset/@endOffset).
type KeyPeriod struct {
	Index uint32
	Times *cpix.Interval
}

// GetKeys sends one SPEKE request (retried on 5xx and transport errors) and
// returns the keys and signaling. Each key is asked for under the stable
// KID DeriveKID(content ID, track type, period), so retries and re-runs get
// the same keys; a provider that answers with other KIDs (SPEKE v1 "KID
// override") is accepted, its keys mapped by usage rule or position. Errors
// name the provider host and the reason, never a key.
func (c *Client) GetKeys(ctx context.Context, req ClientRequest) (ClientResponse, error) {
	doc, slots, err := c.buildRequest(req)
	if err != nil {
		return ClientResponse{}, err
	}
	body, err := cpix.Marshal(doc)
	if err != nil {
		return ClientResponse{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	respBody, err := c.post(ctx, body, versionOf(doc))
	if err != nil {
		return ClientResponse{}, err
	}
	resp, err := c.readResponse(respBody, req, doc, slots)
	if err != nil {
		return ClientResponse{}, fmt.Errorf("speke %s: %w", c.host, err)
	}
	return resp, nil
}

func (c *Client) buildRequest(req ClientRequest) (*cpix.Document, []slot, error) {
	if err := keys.ValidateContentID(req.ContentID); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if req.Scheme != cenc.CENC && req.Scheme != cenc.CBCS {
		return nil, nil, fmt.Errorf("%w: protection scheme %v", ErrConfig, req.Scheme)
	}
	if (req.RecipientKey == nil) != (req.RecipientCert == nil) {
		return nil, nil, fmt.Errorf("%w: encrypted delivery needs both the recipient key and its certificate", ErrConfig)
	}
	if c.cfg.Version == 2 && len(req.Systems) == 0 {
		return nil, nil, fmt.Errorf("%w: SPEKE v2 needs at least one DRM system", ErrConfig)
	}
	types := req.TrackTypes
	if len(types) == 0 || c.cfg.Version == 1 {
		types = []keys.TrackType{keys.All}
	}
	periods := req.Periods
	rotation := len(periods) > 0
	if !rotation {
		periods = []KeyPeriod{{}}
	}
	timed := false
	seenIndex := map[uint32]bool{}
	for _, p := range periods {
		if seenIndex[p.Index] {
			return nil, nil, fmt.Errorf("%w: key period %d requested twice", ErrConfig, p.Index)
		}
		seenIndex[p.Index] = true
		timed = timed || p.Times != nil
	}
	if timed && c.cfg.Version == 1 {
		return nil, nil, fmt.Errorf("%w: key period times need SPEKE v2.1 (CPIX 2.4); SPEKE v1 uses only ContentKeyPeriod@index", ErrConfig)
	}
	doc := &cpix.Document{}
	switch {
	case c.cfg.Version == 2 && timed:
		doc.ContentID, doc.Version = req.ContentID, cpix.Version24
	case c.cfg.Version == 2:
		doc.ContentID, doc.Version = req.ContentID, cpix.Version23
	default:
		doc.ID = req.ContentID
	}
	if req.RecipientCert != nil {
		doc.DeliveryData = []cpix.DeliveryData{{ID: "drmpipe", Certificate: req.RecipientCert.Raw}}
	}
	var slots []slot
	seen := map[slot]bool{}
	for _, kp := range periods {
		p := kp.Index
		pid := fmt.Sprintf("keyPeriod_%d", p)
		if rotation {
			idx := p
			ckp := cpix.ContentKeyPeriod{ID: pid, Index: &idx}
			if kp.Times != nil {
				ckp.SetInterval(*kp.Times)
			}
			doc.ContentKeyPeriods = append(doc.ContentKeyPeriods, ckp)
		}
		for _, t := range types {
			s := slot{t, p}
			if seen[s] {
				continue
			}
			seen[s] = true
			kid := DeriveKID(req.ContentID, t, p)
			ck := cpix.ContentKey{KID: kid}
			if c.cfg.Version == 2 || req.Scheme == cenc.CBCS {
				ck.CommonEncryptionScheme = cpix.EncryptionScheme(req.Scheme.String())
			}
			doc.ContentKeys = append(doc.ContentKeys, ck)
			slots = append(slots, s)
			for _, sys := range req.Systems {
				if sys == drm.FairPlay && req.Scheme != cenc.CBCS {
					continue // FairPlay is cbcs only
				}
				ds := cpix.DRMSystem{KID: kid, SystemID: sys.SystemID()}
				if sys != drm.FairPlay {
					ds.PSSH = cpix.Present(nil)
					ds.ContentProtectionData = cpix.Present(nil)
				}
				if c.cfg.Version == 2 {
					ds.HLSSignalingData = []cpix.HLSSignalingData{{Playlist: cpix.PlaylistMedia}, {Playlist: cpix.PlaylistMaster}}
				} else {
					ds.URIExtXKey = cpix.Present(nil)
					if sys == drm.PlayReady {
						ds.ProtectionHeader = cpix.Present(nil)
					}
				}
				doc.DRMSystems = append(doc.DRMSystems, ds)
			}
			rule := cpix.ContentKeyUsageRule{KID: kid}
			if c.cfg.Version == 2 {
				UsageRuleFor(t, &rule)
			}
			if rotation {
				rule.KeyPeriodFilters = []cpix.KeyPeriodFilter{{PeriodID: pid}}
			}
			doc.UsageRules = append(doc.UsageRules, rule)
		}
	}
	return doc, slots, nil
}

// kidNamespace is the UUID namespace of DeriveKID (a random version 4 UUID
// chosen once for drmpipe; it never changes, or re-runs would get new KIDs).
var kidNamespace = drm.KeyID{0x25, 0x93, 0x9a, 0xab, 0x46, 0xfb, 0x44, 0x38, 0xa3, 0xc6, 0x0e, 0x58, 0x65, 0xaf, 0xc1, 0x3e}

// DeriveKID is the KID the client asks for the key of (content ID, track
// type, crypto period): a name-based version 5 UUID (RFC 9562 §5.5,
// SHA-1 of the namespace 25939aab-46fb-4438-a3c6-0e5865afc13e and the name
// "<content ID> NUL <track type> NUL <period in decimal>").
//
// Why derived and not random: a SPEKE encryptor chooses the KIDs and the
// provider returns the key of exactly those KIDs (AWS SPEKE; drmpipe's
// handler does so through keys.Store GetOrCreateKID). A packaging run that
// is retried or re-run for the same content ID must get the same keys,
// from drmpipe or any other provider that keys by KID; random KIDs per run
// would give new keys each time. Stable KIDs per (content, track type,
// period) make every run ask for the same keys. Different content IDs,
// track types and periods get different KIDs. (Two drmpipe installations
// packaging the same content ID use the same KIDs with different keys;
// content IDs should be unique per installation's players anyway.)
func DeriveKID(contentID string, t keys.TrackType, period uint32) drm.KeyID {
	h := sha1.New()
	h.Write(kidNamespace[:])
	h.Write([]byte(contentID))
	h.Write([]byte{0})
	h.Write([]byte(t.String()))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatUint(uint64(period), 10)))
	var k drm.KeyID
	copy(k[:], h.Sum(nil))
	k[6] = k[6]&0x0f | 0x50 // RFC 9562 §5.5: version 5
	k[8] = k[8]&0x3f | 0x80 // RFC 9562 §4.1: variant 10
	return k
}

// attemptError is a failed attempt; retry tells whether another may help.
type attemptError struct {
	reason string
	retry  bool
}

// versionOf is the X-Speke-Version of a v2 request: 2.1 for CPIX 2.4.
func versionOf(d *cpix.Document) string {
	if d.Version == cpix.Version24 {
		return Version21
	}
	return Version2
}

func (c *Client) post(ctx context.Context, body []byte, version string) ([]byte, error) {
	var last attemptError
	for attempt := 0; attempt <= c.cfg.Retries; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, c.backoff(attempt)); err != nil {
				return nil, fmt.Errorf("%w: %s: %s; gave up: %w", ErrProvider, c.host, last.reason, err)
			}
		}
		b, aerr := c.once(ctx, body, version)
		if aerr == nil {
			return b, nil
		}
		last = *aerr
		if !last.retry || ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %s: %s", ErrProvider, c.host, last.reason)
}

// backoff is full jitter over an exponential ceiling.
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.cfg.BackoffBase << (attempt - 1)
	if ceil > c.cfg.BackoffMax || ceil <= 0 {
		ceil = c.cfg.BackoffMax
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(ceil)+1))
	if err != nil {
		return ceil
	}
	return time.Duration(n.Int64())
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) once(ctx context.Context, body []byte, version string) ([]byte, *attemptError) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, &attemptError{reason: "cannot build request"}
	}
	req.Header.Set("Content-Type", "application/xml")
	if c.cfg.Version == 2 {
		req.Header.Set(HeaderVersion, version)
		req.Header.Set(HeaderUserAgentV2, userAgent)
	} else {
		req.Header.Set(HeaderUserAgentV1, userAgent)
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		reason := "transport error"
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			reason = fmt.Sprintf("no answer within %s", c.cfg.Timeout)
		} else if err != nil {
			reason = "transport error: " + err.Error()
		}
		return nil, &attemptError{reason: reason, retry: true}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, &attemptError{reason: "reading response: " + err.Error(), retry: true}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &attemptError{reason: statusReason(resp.StatusCode, b), retry: resp.StatusCode >= 500}
	}
	if int64(len(b)) > c.cfg.MaxResponseBytes {
		return nil, &attemptError{reason: fmt.Sprintf("response over %d bytes", c.cfg.MaxResponseBytes)}
	}
	if c.cfg.Version == 2 && resp.Header.Get(HeaderVersion) != version {
		return nil, &attemptError{reason: fmt.Sprintf("response lacks %s: %s (not a SPEKE v%s provider?)", HeaderVersion, version, version)}
	}
	return b, nil
}

// statusReason describes an HTTP error. Only the code and message of a
// drmpipe-style JSON error body are quoted (bounded, single line); other
// bodies are not echoed.
func statusReason(code int, body []byte) string {
	reason := fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg := strings.Join(strings.Fields(e.Message), " ")
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		reason += fmt.Sprintf(" (%s: %s)", e.Code, msg)
	}
	return reason
}

func (c *Client) readResponse(b []byte, req ClientRequest, sent *cpix.Document, slots []slot) (ClientResponse, error) {
	doc, err := cpix.UnmarshalLimited(b, cpix.Limits{MaxBytes: c.cfg.MaxResponseBytes})
	if err != nil {
		return ClientResponse{}, fmt.Errorf("%w: %w", ErrResponse, err)
	}
	if len(doc.ContentKeys) != len(sent.ContentKeys) {
		return ClientResponse{}, fmt.Errorf("%w: %d content keys for %d requested", ErrResponse, len(doc.ContentKeys), len(sent.ContentKeys))
	}
	if req.RecipientKey != nil {
		for _, k := range doc.ContentKeys {
			if k.Encrypted == nil {
				return ClientResponse{}, fmt.Errorf("%w: encrypted delivery was asked for, but ContentKey %s came in clear", ErrResponse, k.KID)
			}
		}
		if err := cpix.DecryptKeys(doc, req.RecipientKey); err != nil {
			return ClientResponse{}, fmt.Errorf("%w: %w", ErrResponse, err)
		}
	} else if doc.Encrypted() {
		return ClientResponse{}, fmt.Errorf("%w: keys came encrypted but no recipient key is configured", ErrResponse)
	}
	if err := samePeriods(sent, doc); err != nil {
		return ClientResponse{}, err
	}
	resp, err := extract(doc, slots)
	if err != nil {
		return ClientResponse{}, err
	}
	if err := keysMatchSlots(resp, slots); err != nil {
		return ClientResponse{}, err
	}
	// v1 has one key per period: give it every requested track type.
	if c.cfg.Version == 1 {
		for p, m := range resp.PeriodKeys {
			if k, ok := m[keys.All]; ok {
				for _, t := range req.TrackTypes {
					m[t] = k
				}
				if p == slots[0].period {
					for _, t := range req.TrackTypes {
						resp.Keys[t] = k
					}
				}
			}
		}
	}
	for _, s := range slots {
		if _, ok := resp.PeriodKeys[s.period][s.t]; !ok {
			return ClientResponse{}, fmt.Errorf("%w: no key for track type %s period %d", ErrResponse, s.t, s.period)
		}
	}
	return resp, nil
}

// samePeriods checks that a response carries exactly the key periods sent,
// each with its @index and time attributes (CPIX: the key provider fills
// the request's document; a period that changed or went missing would put
// keys in the wrong time).
func samePeriods(sent, got *cpix.Document) error {
	if len(got.ContentKeyPeriods) != len(sent.ContentKeyPeriods) {
		return fmt.Errorf("%w: %d ContentKeyPeriods for %d requested", ErrResponse, len(got.ContentKeyPeriods), len(sent.ContentKeyPeriods))
	}
	for _, want := range sent.ContentKeyPeriods {
		p, ok := got.PeriodByID(want.ID)
		switch {
		case !ok:
			return fmt.Errorf("%w: requested ContentKeyPeriod %q is missing", ErrResponse, want.ID)
		case p.Index == nil || *p.Index != *want.Index:
			return fmt.Errorf("%w: ContentKeyPeriod %q has another @index than the requested %d", ErrResponse, want.ID, *want.Index)
		}
		wi, _, _ := want.Interval()
		gi, ok, err := p.Interval()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrResponse, err)
		}
		if _, timed, _ := want.Interval(); timed != ok || gi != wi {
			return fmt.Errorf("%w: ContentKeyPeriod %q covers another time than requested", ErrResponse, want.ID)
		}
	}
	return nil
}

// keysMatchSlots checks that every key of a response belongs to a
// requested (track type, period) slot and that no KID serves two periods or
// track types.
func keysMatchSlots(resp ClientResponse, slots []slot) error {
	asked := map[slot]bool{}
	for _, s := range slots {
		asked[s] = true
	}
	owner := map[drm.KeyID]slot{}
	for p, m := range resp.PeriodKeys {
		for t, k := range m {
			s := slot{t, p}
			if !asked[s] {
				return fmt.Errorf("%w: KID %s is for track type %s period %d, which was not requested", ErrResponse, k.KID, t, p)
			}
			if o, dup := owner[k.KID]; dup {
				return fmt.Errorf("%w: KID %s serves both track type %s period %d and track type %s period %d", ErrResponse, k.KID, o.t, o.period, t, p)
			}
			owner[k.KID] = s
		}
	}
	return nil
}
