package license

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/drm"
	ck "github.com/drmpipe/drmpipe/internal/drm/clearkey"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// fakeAuthorizer stands in for entitlement's real Authorizer, which is
// being written in parallel: it maps a token to a decision or a refusal
// and records the request it saw.
type fakeAuthorizer struct {
	decisions map[string]entitlement.Decision
	last      atomic.Pointer[entitlement.Request]
}

func (f *fakeAuthorizer) Authorize(_ context.Context, req entitlement.Request) (entitlement.Decision, error) {
	f.last.Store(&req)
	d, ok := f.decisions[req.Token]
	if !ok {
		return entitlement.Decision{}, &entitlement.DenyError{Reason: entitlement.ReasonTokenInvalid, Message: "bad token", Cause: errors.New("signature mismatch")}
	}
	return d, nil
}

type keyRec struct {
	key     []byte
	content string
	tt      keys.TrackType
	revoked bool
}

type fakeKeys struct {
	m map[drm.KeyID]keyRec
	// periods holds the key period of keys after period 0 (key rotation).
	periods map[drm.KeyID]uint32
	calls   atomic.Int64
}

func (f *fakeKeys) Lookup(_ context.Context, kid drm.KeyID) (keys.ContentKey, string, keys.TrackType, bool, error) {
	f.calls.Add(1)
	r, ok := f.m[kid]
	if !ok {
		return keys.ContentKey{}, "", 0, false, fmt.Errorf("kid %s: %w", kid, keys.ErrKeyNotFound)
	}
	return keys.ContentKey{KID: kid, Key: r.key}, r.content, r.tt, r.revoked, nil
}

// Keys: the dash.js issue 3343 vector (Akamai ClearKey example) and the W3C EME
// spec example, plus one of another content and one revoked.
var (
	kidA, _    = drm.ParseKeyID("9eb4050d-e44b-4802-932e-27d75083e266")
	keyA, _    = hex.DecodeString("166634c675823c235a4a9446fad52e4d")
	kidB, _    = drm.ParseKeyID("2f05477fc24bb4faefd86517156daffc")
	keyB, _    = hex.DecodeString("b50d1b25559be9bd0a3cbe8ab59232fc")
	kidOther   = drm.KeyID{1, 2, 3}
	kidRevoked = drm.KeyID{9, 9, 9}
	kidUnknown = drm.KeyID{7, 7, 7}
)

func fixture(t testing.TB, mutate func(*ClearKeyDeps)) (*ClearKeyHandler, *fakeAuthorizer, *fakeKeys) {
	t.Helper()
	exp := time.Now().Add(time.Minute)
	auth := &fakeAuthorizer{decisions: map[string]entitlement.Decision{
		"good":    {Subject: "u1", ContentID: "movie", JTI: "j1", TokenExpiry: exp},
		"persist": {Subject: "u2", ContentID: "movie", JTI: "j2", TokenExpiry: exp, Policy: entitlement.Policy{Persistent: true}},
		"audio":   {Subject: "u3", ContentID: "movie", JTI: "j3", TokenExpiry: exp, TrackTypes: []keys.TrackType{keys.Audio}},
	}}
	ks := &fakeKeys{m: map[drm.KeyID]keyRec{
		kidA:       {keyA, "movie", keys.HD, false},
		kidB:       {keyB, "movie", keys.Audio, false},
		kidOther:   {keyA, "other", keys.HD, false},
		kidRevoked: {keyA, "movie", keys.HD, true},
	}}
	deps := ClearKeyDeps{Deps: Deps{Authorizer: auth, Cache: NewMemoryCache(0, nil)}, Keys: ks}
	if mutate != nil {
		mutate(&deps)
	}
	h, err := NewClearKeyHandler(ClearKeyConfig{EndpointConfig: EndpointConfig{TokenHeader: "X-Playback-Token"}}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return h, auth, ks
}

func post(h http.Handler, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/license/clearkey", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func reqBody(typ string, kids ...drm.KeyID) string {
	r := ck.LicenseRequest{Type: typ}
	for _, k := range kids {
		r.KIDs = append(r.KIDs, ck.EncodeKID(k))
	}
	b, _ := json.Marshal(r)
	return string(b)
}

func TestHappyPath(t *testing.T) {
	h, auth, _ := fixture(t, nil)
	w := post(h, reqBody("temporary", kidA, kidB), bearer("good"))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	want := `{"keys":[{"kty":"oct","k":"FmY0xnWCPCNaSpRG-tUuTQ","kid":"nrQFDeRLSAKTLifXUIPiZg"},{"kty":"oct","k":"tQ0bJVWb6b0KPL6KtZIy_A","kid":"LwVHf8JLtPrv2GUXFW2v_A"}],"type":"temporary"}`
	if w.Body.String() != want {
		t.Errorf("license\n got %s\nwant %s", w.Body, want)
	}
	if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", w.Header())
	}
	got := auth.last.Load()
	if got.System != drm.ClearKey || len(got.KIDs) != 2 || got.KIDs[0] != kidA || got.Persistent {
		t.Errorf("authorizer saw %+v", got)
	}
	// Missing type (old CDMs) means temporary; padded kids are accepted;
	// the token may come in the configured header.
	w = post(h, `{"kids":["nrQFDeRLSAKTLifXUIPiZg=="]}`, map[string]string{"X-Playback-Token": "good"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"type":"temporary"`) {
		t.Errorf("no type: %d %s", w.Code, w.Body)
	}
	// Persistent when the policy allows it.
	w = post(h, reqBody("persistent-license", kidA), bearer("persist"))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"type":"persistent-license"`) || !auth.last.Load().Persistent {
		t.Errorf("persistent: %d %s", w.Code, w.Body)
	}
}

func TestRefusals(t *testing.T) {
	h, _, _ := fixture(t, nil)
	cases := []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		code   httperr.Code
	}{
		{"no token", reqBody("", kidA), nil, 401, httperr.CodeUnauthorized},
		{"bad token", reqBody("", kidA), bearer("forged"), 401, httperr.CodeTokenInvalid},
		{"not bearer", reqBody("", kidA), map[string]string{"Authorization": "Basic Z29vZA=="}, 401, httperr.CodeUnauthorized},
		{"unknown kid", reqBody("", kidA, kidUnknown), bearer("good"), 404, httperr.CodeUnknownKey},
		{"other content", reqBody("", kidA, kidOther), bearer("good"), 403, httperr.CodeNotEntitled},
		{"track type", reqBody("", kidA, kidB), bearer("audio"), 403, httperr.CodeNotEntitled},
		{"revoked kid", reqBody("", kidRevoked), bearer("good"), 403, httperr.CodeRevoked},
		{"persistent not allowed", reqBody("persistent-license", kidA), bearer("good"), 403, httperr.CodeNotEntitled},
		{"bad type", reqBody("forever", kidA), bearer("good"), 400, httperr.CodeInvalidRequest},
		{"no kids", `{"kids":[]}`, bearer("good"), 400, httperr.CodeInvalidRequest},
		{"bad json", `{"kids":`, bearer("good"), 400, httperr.CodeInvalidRequest},
		{"too large", `{"kids":["` + strings.Repeat("A", 70<<10) + `"]}`, bearer("good"), 413, httperr.CodeTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := post(h, tc.body, tc.hdr)
			var b httperr.Body
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
				t.Fatalf("body %s", w.Body)
			}
			if w.Code != tc.status || b.Code != tc.code {
				t.Errorf("got %d %s, want %d %s", w.Code, b.Code, tc.status, tc.code)
			}
			// Nothing of any key in a refusal.
			for _, k := range []string{"FmY0xnWCPCNaSpRG", "tQ0bJVWb6b0KPL6K", hex.EncodeToString(keyA)} {
				if strings.Contains(w.Body.String(), k) {
					t.Error("key material in a refusal")
				}
			}
		})
	}
	r := httptest.NewRequest(http.MethodGet, "/license/clearkey", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") == "" {
		t.Errorf("GET: %d", w.Code)
	}
}

func TestDuplicatesServedFromCache(t *testing.T) {
	h, _, ks := fixture(t, nil)
	body := reqBody("temporary", kidA, kidB)
	first := post(h, body, bearer("good")).Body.String()
	calls := ks.calls.Load()
	for i := 0; i < 3; i++ {
		if w := post(h, body, bearer("good")); w.Body.String() != first {
			t.Fatalf("duplicate answered differently: %s", w.Body)
		}
	}
	if ks.calls.Load() != calls {
		t.Errorf("key lookups %d -> %d for duplicates", calls, ks.calls.Load())
	}
	// Another token (jti) is not served from the first one's entry.
	post(h, body, bearer("persist"))
	if ks.calls.Load() == calls {
		t.Error("a different jti hit the cache")
	}
}

type sharedCache struct{ Cache }

func (sharedCache) Shared() bool { return true }

func TestSharedCacheNotUsed(t *testing.T) {
	mc := NewMemoryCache(0, nil)
	h, _, _ := fixture(t, func(d *ClearKeyDeps) { d.Cache = sharedCache{mc} })
	post(h, reqBody("", kidA), bearer("good"))
	if mc.Len() != 0 {
		t.Error("clear keys stored in a shared cache")
	}
}

func TestRateLimitPerUser(t *testing.T) {
	lim := NewLimiter(RateLimits{PerUser: 0.5, PerUserBurst: 2}, nil)
	h, _, _ := fixture(t, func(d *ClearKeyDeps) { d.Limiter = lim })
	for i := 0; i < 2; i++ {
		if w := post(h, reqBody("", kidA), bearer("good")); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	w := post(h, reqBody("", kidA), bearer("good"))
	var b httperr.Body
	_ = json.Unmarshal(w.Body.Bytes(), &b)
	if w.Code != http.StatusTooManyRequests || b.Code != httperr.CodeRateLimited || b.RetryAfter != 2 || w.Header().Get("Retry-After") != "2" {
		t.Errorf("third request: %d %+v", w.Code, b)
	}
	// Another user has their own budget.
	if w := post(h, reqBody("", kidA), bearer("persist")); w.Code != 200 {
		t.Errorf("other user: %d", w.Code)
	}
}

func TestNewHandlerNeedsDeps(t *testing.T) {
	if _, err := NewClearKeyHandler(ClearKeyConfig{}, ClearKeyDeps{}); !errors.Is(err, ErrConfig) {
		t.Errorf("no deps: %v", err)
	}
	if _, err := NewClearKeyHandler(ClearKeyConfig{}, ClearKeyDeps{Keys: &fakeKeys{}}); !errors.Is(err, ErrConfig) {
		t.Errorf("no authorizer: %v", err)
	}
}

// fastAuthorizer grants every token: the benchmark measures the handler,
// not token verification (entitlement benchmarks that separately).
type fastAuthorizer struct{ d entitlement.Decision }

func (f fastAuthorizer) Authorize(context.Context, entitlement.Request) (entitlement.Decision, error) {
	return f.d, nil
}

// BenchmarkClearKeyLicense reports licenses/s through the handler: without
// a jti every request builds its license (cache miss path); with a jti the
// duplicates are cache hits.
func BenchmarkClearKeyLicense(b *testing.B) {
	for _, mode := range []struct {
		name string
		jti  string
	}{{"miss", ""}, {"hit", "bench-jti"}} {
		b.Run(mode.name, func(b *testing.B) {
			_, _, ks := fixture(b, nil)
			h, err := NewClearKeyHandler(ClearKeyConfig{}, ClearKeyDeps{Deps: Deps{
				Authorizer: fastAuthorizer{entitlement.Decision{Subject: "u", ContentID: "movie", JTI: mode.jti, TokenExpiry: time.Now().Add(time.Hour)}},
				Cache:      NewMemoryCache(0, nil),
			}, Keys: ks})
			if err != nil {
				b.Fatal(err)
			}
			body := reqBody("temporary", kidA, kidB)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest(http.MethodPost, "/license/clearkey", strings.NewReader(body))
					r.Header.Set("Authorization", "Bearer t")
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != 200 {
						b.Errorf("status %d", w.Code)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "licenses/s")
		})
	}
}
