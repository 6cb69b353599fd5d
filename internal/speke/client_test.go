package speke

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/keys"
)

var fiveTypes = []keys.TrackType{keys.SD, keys.HD, keys.UHD1, keys.UHD2, keys.Audio}

func startServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestClientRoundTripV2(t *testing.T) {
	e := newEnv(t, testConfig())
	srv := startServer(t, e.h)
	c, err := NewClient(ClientConfig{URL: srv.URL + PathV2, Version: 2, Token: goodToken, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := ClientRequest{ContentID: "movie-1", Scheme: cenc.CBCS, TrackTypes: fiveTypes, Systems: drm.AllSystems}
	resp, err := c.GetKeys(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Keys) != 5 {
		t.Fatalf("%d keys", len(resp.Keys))
	}
	kids := map[drm.KeyID]bool{}
	for _, tt := range fiveTypes {
		k := resp.Keys[tt]
		if k.KID != DeriveKID("movie-1", tt, 0) {
			t.Errorf("%s: KID %s is not the one the client asked for", tt, k.KID)
		}
		stored := e.storedKey(t, "movie-1", k.KID)
		if !bytes.Equal(k.Key, stored.Key.Key) || !bytes.Equal(k.IV, stored.Key.IV) || stored.TrackType != tt {
			t.Errorf("%s: client key is not the store's", tt)
		}
		kids[k.KID] = true
		sig := resp.Signaling[k.KID]
		if len(sig) != 4 {
			t.Errorf("%s: signaling for %d systems", tt, len(sig))
		}
		if p := sig[drm.Widevine].PSSH; len(p) == 0 || !strings.HasPrefix(sig[drm.Widevine].HLSMedia, "#EXT-X-KEY:METHOD=SAMPLE-AES,") {
			t.Errorf("%s: widevine signaling %v", tt, sig[drm.Widevine])
		}
		pr := sig[drm.PlayReady]
		if h, err := playready.UnmarshalPRO(pr.PRO); err != nil || h.KIDs[0] != k.KID {
			t.Errorf("%s: PlayReady PRO: %v", tt, err)
		}
		if !strings.Contains(sig[drm.FairPlay].HLSMaster, `URI="skd://fps.example.com/`+k.KID.Hex()+`"`) {
			t.Errorf("%s: FairPlay master %q", tt, sig[drm.FairPlay].HLSMaster)
		}
		if !bytes.Contains(sig[drm.ClearKey].ContentProtectionData, []byte("dashif:Laurl")) {
			t.Errorf("%s: ClearKey CPD lacks the license URL", tt)
		}
	}
	if len(kids) != 5 {
		t.Error("track types share keys")
	}
	// Same request again, and a re-run with a new client (another packaging
	// run): same KIDs, keys and IVs.
	c2, err := NewClient(ClientConfig{URL: srv.URL + PathV2, Version: 2, Token: goodToken, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*Client{c, c2} {
		again, err := cl.GetKeys(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for tt, k := range resp.Keys {
			if a := again.Keys[tt]; a.KID != k.KID || !bytes.Equal(a.Key, k.Key) || !bytes.Equal(a.IV, k.IV) {
				t.Errorf("%s: another request got another key", tt)
			}
		}
	}
	if list, _ := e.store.List(ctx, "movie-1"); len(list) != 5 {
		t.Errorf("store holds %d keys for 3 identical requests, want 5", len(list))
	}
}

func TestClientRotationCENCAndV1(t *testing.T) {
	e := newEnv(t, testConfig())
	srv := startServer(t, e.h)
	ctx := context.Background()
	c2, _ := NewClient(ClientConfig{URL: srv.URL + PathV2, Token: goodToken})
	resp, err := c2.GetKeys(ctx, ClientRequest{ContentID: "live-1", Scheme: cenc.CENC, TrackTypes: []keys.TrackType{keys.HD, keys.Audio},
		Systems: []drm.System{drm.Widevine, drm.PlayReady, drm.FairPlay}, Periods: []KeyPeriod{{Index: 7}, {Index: 8}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.PeriodKeys) != 2 || len(resp.PeriodKeys[8]) != 2 || resp.Keys[keys.HD].KID != resp.PeriodKeys[7][keys.HD].KID {
		t.Fatalf("period keys %v", resp.PeriodKeys)
	}
	if resp.PeriodKeys[7][keys.HD].KID == resp.PeriodKeys[8][keys.HD].KID {
		t.Error("rotation periods share a key")
	}
	stored := e.storedKey(t, "live-1", DeriveKID("live-1", keys.HD, 8))
	if k := resp.PeriodKeys[8][keys.HD]; k.KID != stored.KID || !bytes.Equal(k.Key, stored.Key.Key) || stored.Period != 8 {
		t.Error("period 8 key is not the store's")
	}
	for _, m := range resp.Signaling {
		if _, ok := m[drm.FairPlay]; ok {
			t.Error("FairPlay requested with cenc")
		}
	}
	c1, _ := NewClient(ClientConfig{URL: srv.URL + PathV1, Version: 1, Token: goodToken})
	v1, err := c1.GetKeys(ctx, ClientRequest{ContentID: "vod-v1", Scheme: cenc.CBCS, TrackTypes: []keys.TrackType{keys.SD, keys.Audio},
		Systems: []drm.System{drm.FairPlay, drm.PlayReady}})
	if err != nil {
		t.Fatal(err)
	}
	all := e.storedKey(t, "vod-v1", DeriveKID("vod-v1", keys.All, 0)).Key
	for _, tt := range []keys.TrackType{keys.SD, keys.Audio, keys.All} {
		if v1.Keys[tt].KID != all.KID || !bytes.Equal(v1.Keys[tt].Key, all.Key) || len(v1.Keys[tt].IV) != 16 {
			t.Errorf("v1 %s: not the single ALL key", tt)
		}
	}
	sig := v1.Signaling[all.KID]
	if sig[drm.FairPlay].URIExtXKey != "skd://fps.example.com/"+all.KID.Hex() || len(sig[drm.PlayReady].PRO) == 0 {
		t.Errorf("v1 signaling %v", sig)
	}
}

func TestClientEncryptedDeliveryAndLoadCPIX(t *testing.T) {
	e := newEnv(t, testConfig())
	priv, cert := newRecipient(t)
	// Capture the raw response to test LoadCPIX with it.
	var raw atomic.Value
	capture := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, r)
		raw.Store(rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
	srv2 := startServer(t, capture)
	c, _ := NewClient(ClientConfig{URL: srv2.URL + PathV2, Token: goodToken})
	ctx := context.Background()
	resp, err := c.GetKeys(ctx, ClientRequest{ContentID: "enc-1", Scheme: cenc.CBCS, TrackTypes: []keys.TrackType{keys.HD, keys.Audio},
		Systems: []drm.System{drm.Widevine}, RecipientKey: priv, RecipientCert: cert})
	if err != nil {
		t.Fatal(err)
	}
	hd := e.storedKey(t, "enc-1", DeriveKID("enc-1", keys.HD, 0)).Key
	if !bytes.Equal(resp.Keys[keys.HD].Key, hd.Key) {
		t.Fatal("decrypted key is not the store's")
	}
	body := raw.Load().([]byte)
	if bytes.Contains(body, []byte("PlainValue")) {
		t.Fatal("clear keys on the wire")
	}
	path := filepath.Join(t.TempDir(), "keys.cpix.xml")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCPIX(path, nil); !errors.Is(err, ErrResponse) {
		t.Errorf("encrypted CPIX without a key: %v", err)
	}
	other, _ := newRecipient(t)
	if _, err := LoadCPIX(path, other); !errors.Is(err, cpix.ErrDecryption) {
		t.Errorf("encrypted CPIX with the wrong key: %v", err)
	}
	loaded, err := LoadCPIX(path, priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.Keys[keys.HD].Key, hd.Key) || !bytes.Equal(loaded.Keys[keys.HD].IV, hd.IV) || len(loaded.Signaling[hd.KID][drm.Widevine].PSSH) == 0 {
		t.Error("LoadCPIX result differs from the store")
	}
	// Tampering is detected.
	tampered := bytes.Replace(body, []byte("<pskc:ValueMAC>"), []byte("<pskc:ValueMAC>AAAA"), 1)
	os.WriteFile(path, tampered, 0o600)
	if _, err := LoadCPIX(path, priv); err == nil {
		t.Error("tampered CPIX accepted")
	}
	// A provider that answers in clear when encryption was asked for is refused.
	plain := NewHandler(testConfig(), Deps{Keys: e.store, Auth: tokenAuth{goodToken: Scope}})
	strip := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := cpix.Unmarshal(readAll(r))
		if err != nil {
			t.Error(err)
			return
		}
		d.DeliveryData = nil
		b, _ := cpix.Marshal(d)
		r2 := httptest.NewRequest(http.MethodPost, PathV2, bytes.NewReader(b))
		r2.Header = r.Header
		plain.ServeHTTP(w, r2)
	}))
	c3, _ := NewClient(ClientConfig{URL: strip.URL + PathV2, Token: goodToken})
	if _, err := c3.GetKeys(ctx, ClientRequest{ContentID: "enc-1", Scheme: cenc.CBCS, Systems: []drm.System{drm.Widevine}, RecipientKey: priv, RecipientCert: cert}); !errors.Is(err, ErrResponse) || !strings.Contains(err.Error(), "came in clear") {
		t.Errorf("downgrade: %v", err)
	}
}

func readAll(r *http.Request) []byte {
	var b bytes.Buffer
	b.ReadFrom(r.Body)
	return b.Bytes()
}

func TestLoadCPIXPlainDocExample(t *testing.T) {
	// The AWS SPEKE v1 documentation's response values (see the cpix fixture).
	path := filepath.Join("..", "cpix", "testdata", "speke_v1_live_response.xml")
	resp, err := LoadCPIX(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := resp.PeriodKeys[1][keys.All]
	if !ok || k.KID.String() != "98ee5596-cd3e-a20d-163a-e382420c6eff" || len(k.Key) != 16 || len(k.IV) != 16 {
		t.Fatalf("period 1 key %v", resp.PeriodKeys)
	}
	if got := resp.Signaling[k.KID][drm.FairPlay].URIExtXKey; !strings.HasPrefix(got, "https://7k4ytuxq5d.execute-api") {
		t.Errorf("URIExtXKey %q", got)
	}
}

// flapping answers 503 for the first n requests, then passes to h.
type flapping struct {
	n, calls atomic.Int64
	status   int
	h        http.Handler
}

func (f *flapping) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.calls.Add(1) <= f.n.Load() {
		http.Error(w, "upstream secret body", f.status)
		return
	}
	f.h.ServeHTTP(w, r)
}

func TestClientRetries(t *testing.T) {
	e := newEnv(t, testConfig())
	req := ClientRequest{ContentID: "retry-1", Scheme: cenc.CBCS, TrackTypes: []keys.TrackType{keys.HD}, Systems: []drm.System{drm.Widevine}}
	fast := func(url string, retries int) *Client {
		c, err := NewClient(ClientConfig{URL: url, Token: goodToken, Retries: retries, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("recovers", func(t *testing.T) {
		f := &flapping{status: 503, h: e.h}
		f.n.Store(2)
		srv := startServer(t, f)
		if _, err := fast(srv.URL+PathV2, 3).GetKeys(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if f.calls.Load() != 3 {
			t.Errorf("%d attempts, want 3", f.calls.Load())
		}
	})
	t.Run("bounded", func(t *testing.T) {
		f := &flapping{status: 502, h: e.h}
		f.n.Store(100)
		srv := startServer(t, f)
		_, err := fast(srv.URL+PathV2, 2).GetKeys(context.Background(), req)
		u, _ := url.Parse(srv.URL)
		if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), u.Host) || !strings.Contains(err.Error(), "HTTP 502") {
			t.Fatalf("error %v", err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Error("upstream body echoed")
		}
		if f.calls.Load() != 3 {
			t.Errorf("%d attempts, want 3", f.calls.Load())
		}
	})
	t.Run("4xx not retried", func(t *testing.T) {
		f := &flapping{h: e.h}
		srv := startServer(t, f)
		c, _ := NewClient(ClientConfig{URL: srv.URL + PathV2, Token: "wrong", Retries: 3, BackoffBase: time.Millisecond})
		_, err := c.GetKeys(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "authentication required") {
			t.Fatalf("error %v", err)
		}
		if f.calls.Load() != 1 {
			t.Errorf("%d attempts, want 1", f.calls.Load())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		var calls atomic.Int64
		done := make(chan struct{})
		defer close(done)
		srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			select {
			case <-r.Context().Done():
			case <-done:
			}
		}))
		c, _ := NewClient(ClientConfig{URL: srv.URL + PathV2, Retries: 1, Timeout: 50 * time.Millisecond, BackoffBase: time.Millisecond})
		start := time.Now()
		_, err := c.GetKeys(context.Background(), req)
		if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "no answer within 50ms") {
			t.Fatalf("error %v", err)
		}
		if calls.Load() != 2 || time.Since(start) > 2*time.Second {
			t.Errorf("%d attempts in %s", calls.Load(), time.Since(start))
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		addr := srv.URL
		srv.Close()
		_, err := fast(addr+PathV2, 1).GetKeys(context.Background(), req)
		if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "transport error") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestNewClientConfig(t *testing.T) {
	for _, cfg := range []ClientConfig{{URL: "ftp://x"}, {URL: "http://x", Version: 3}, {URL: "http://x", Retries: 11}, {URL: ":"}} {
		if _, err := NewClient(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	c, _ := NewClient(ClientConfig{URL: "http://127.0.0.1:1"})
	if _, err := c.GetKeys(context.Background(), ClientRequest{Scheme: cenc.CBCS}); !errors.Is(err, ErrConfig) {
		t.Errorf("empty content ID: %v", err)
	}
	if _, err := c.GetKeys(context.Background(), ClientRequest{ContentID: "x"}); !errors.Is(err, ErrConfig) {
		t.Errorf("no scheme: %v", err)
	}
}

// BenchmarkSPEKEv2FiveTrackTypes measures the key provider on the SQLite
// store: one SPEKE v2 request for SD, HD, UHD1, UHD2 and AUDIO with all four
// DRM systems, over loopback HTTP, keys already created (steady state).
func BenchmarkSPEKEv2FiveTrackTypes(b *testing.B) {
	e := newEnv(b, testConfig())
	srv := startServer(b, e.h)
	c, err := NewClient(ClientConfig{URL: srv.URL + PathV2, Token: goodToken})
	if err != nil {
		b.Fatal(err)
	}
	req := ClientRequest{ContentID: "bench", Scheme: cenc.CBCS, TrackTypes: fiveTypes, Systems: drm.AllSystems}
	if _, err := c.GetKeys(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetKeys(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
}
