package speke

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
)

const (
	videoKID = "0f083e4e-b831-4a3d-917e-ce78076e54aa" // VIDEO key of v2_preset_video1_audio1_cbcs.xml
	audioKID = "041fdd3a-7f5e-4848-a7cb-65e97758e9a0" // its AUDIO key
	v1KID    = "98ee5596-cd3e-a20d-163a-e382420c6eff" // the key of v1_live_request.xml
	zeroKID  = "00000000-0000-0000-0000-000000000000"
)

func mustKID(t testing.TB, s string) drm.KeyID {
	t.Helper()
	k, err := drm.ParseKeyID(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// kidsOf lists every KID a document names, in ContentKeys, DRMSystems and
// usage rules.
func kidsOf(d *cpix.Document) []drm.KeyID {
	var out []drm.KeyID
	for _, k := range d.ContentKeys {
		out = append(out, k.KID)
	}
	for _, s := range d.DRMSystems {
		out = append(out, s.KID)
	}
	for _, r := range d.UsageRules {
		out = append(out, r.KID)
	}
	return out
}

func TestZeroKIDGetsSlotKeyWithOverride(t *testing.T) {
	ctx := context.Background()
	t.Run("v2", func(t *testing.T) {
		e := newEnv(t, testConfig())
		req := strings.ReplaceAll(fixture(t, "v2_preset_video1_audio1_cbcs.xml"), videoKID, zeroKID)
		d := okDoc(t, post(t, e.h, PathV2, req, true, goodToken))
		slot, err := e.store.GetOrCreate(ctx, "test_case_generic", keys.All, 0) // VIDEO -> ALL slot
		if err != nil {
			t.Fatal(err)
		}
		if d.ContentKeys[0].KID != slot.KID || !bytes.Equal(d.ContentKeys[0].Value, slot.Key) {
			t.Fatalf("zero KID: got KID %s, want the slot key %s", d.ContentKeys[0].KID, slot.KID)
		}
		if d.ContentKeys[1].KID != mustKID(t, audioKID) {
			t.Fatalf("the requested AUDIO KID was overridden: %s", d.ContentKeys[1].KID)
		}
		n := map[drm.KeyID]int{}
		for _, k := range kidsOf(d) {
			n[k]++
		}
		// 1 ContentKey + 3 DRMSystems + 1 usage rule per key.
		if n[drm.KeyID{}] != 0 || n[slot.KID] != 5 || n[mustKID(t, audioKID)] != 5 {
			t.Fatalf("KIDs in the response: %v", n)
		}
		d2 := okDoc(t, post(t, e.h, PathV2, req, true, goodToken))
		if d2.ContentKeys[0].KID != slot.KID || !bytes.Equal(d2.ContentKeys[0].Value, slot.Key) {
			t.Fatal("retried zero-KID request got another key")
		}
	})
	t.Run("v1", func(t *testing.T) {
		e := newEnv(t, testConfig())
		req := strings.ReplaceAll(fixture(t, "v1_live_request.xml"), v1KID, zeroKID)
		d := okDoc(t, post(t, e.h, PathV1, req, false, goodToken))
		slot, err := e.store.GetOrCreate(ctx, "abc123", keys.All, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kidsOf(d) {
			if k != slot.KID {
				t.Fatalf("v1 KID %s, want the slot key's %s everywhere", k, slot.KID)
			}
		}
		if !bytes.Equal(d.ContentKeys[0].Value, slot.Key) {
			t.Fatal("v1 zero KID: not the slot key")
		}
	})
}

func TestDuplicateKIDsRejected(t *testing.T) {
	e := newEnv(t, testConfig())
	base := fixture(t, "v2_preset_video1_audio1_cbcs.xml")
	for name, body := range map[string]string{
		"same KID twice": strings.ReplaceAll(base, audioKID, videoKID),
		"two zero KIDs":  strings.ReplaceAll(strings.ReplaceAll(base, audioKID, zeroKID), videoKID, zeroKID),
	} {
		w := post(t, e.h, PathV2, body, true, goodToken)
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(errBody(t, w).Message, "appears more than once") {
			t.Errorf("%s: %d %s", name, w.Code, w.Body.String())
		}
	}
	if n := e.keys.calls.Load(); n != 0 {
		t.Errorf("rejected requests touched the key store %d times", n)
	}
}

func TestKIDOfOtherContentAndRevokedKID(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, testConfig())
	req := fixture(t, "v2_preset_video1_audio1_cbcs.xml")
	okDoc(t, post(t, e.h, PathV2, req, true, goodToken))

	// Another content ID naming the same KIDs: 409, without the owner's name.
	other := strings.Replace(req, `contentId="test_case_generic"`, `contentId="someone_else"`, 1)
	w := post(t, e.h, PathV2, other, true, goodToken)
	if w.Code != http.StatusConflict {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	b := errBody(t, w)
	if b.Code != httperr.CodeInvalidRequest || !strings.Contains(b.Message, "another content ID") || strings.Contains(w.Body.String(), "test_case_generic") {
		t.Fatalf("conflict body %+v", b)
	}
	if list, _ := e.store.List(ctx, "someone_else"); len(list) != 0 {
		t.Fatalf("conflicting request stored %d keys", len(list))
	}

	// A revoked KID is refused, never given a new key.
	if err := e.store.Revoke(ctx, mustKID(t, audioKID)); err != nil {
		t.Fatal(err)
	}
	w = post(t, e.h, PathV2, req, true, goodToken)
	if w.Code != http.StatusConflict || errBody(t, w).Code != httperr.CodeRevoked || !strings.Contains(w.Body.String(), audioKID) {
		t.Fatalf("revoked KID: %d %s", w.Code, w.Body.String())
	}
	if list, _ := e.store.List(ctx, "test_case_generic"); len(list) != 2 {
		t.Fatalf("store holds %d keys after the revoked request, want 2", len(list))
	}
}

// TestConcurrentIdenticalRequestsGetOneKey: an encryptor retrying while its
// first request is still running, against two provider instances (two
// stores, one database), gets one key per KID.
func TestConcurrentIdenticalRequestsGetOneKey(t *testing.T) {
	dir := t.TempDir()
	w, err := local.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var hs []http.Handler
	for range 2 {
		st, err := sqlstore.Open(context.Background(), filepath.Join(dir, "keys.db"), w)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		hs = append(hs, NewHandler(testConfig(), Deps{Keys: st, Auth: tokenAuth{goodToken: Scope}}))
	}
	req := fixture(t, "v2_preset_video1_audio1_cbcs.xml")
	const n = 16
	recs := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := httptest.NewRequest(http.MethodPost, PathV2, strings.NewReader(req))
			r.Header.Set(HeaderVersion, Version2)
			r.Header.Set("Authorization", "Bearer "+goodToken)
			recs[i] = httptest.NewRecorder()
			hs[i%2].ServeHTTP(recs[i], r)
		}()
	}
	close(start)
	wg.Wait()
	first := okDoc(t, recs[0])
	for i := 1; i < n; i++ {
		d := okDoc(t, recs[i])
		for j := range d.ContentKeys {
			if d.ContentKeys[j].KID != first.ContentKeys[j].KID || !bytes.Equal(d.ContentKeys[j].Value, first.ContentKeys[j].Value) {
				t.Fatalf("request %d got another key %d", i, j)
			}
		}
	}
	if first.ContentKeys[0].KID != mustKID(t, videoKID) || first.ContentKeys[1].KID != mustKID(t, audioKID) {
		t.Fatal("KIDs not the requested ones")
	}
}

func TestDeriveKID(t *testing.T) {
	// Expected values computed independently with Python's uuid.uuid5
	// (RFC 9562 §5.5) over the namespace 25939aab-46fb-4438-a3c6-0e5865afc13e
	// and the names "movie-1\x00HD\x000", "live-1\x00AUDIO\x004294967295",
	// "café\x00ALL\x007".
	for _, c := range []struct {
		content string
		t       keys.TrackType
		period  uint32
		want    string
	}{
		{"movie-1", keys.HD, 0, "bef96361-7b7f-57a4-9ac4-1226ec03c91b"},
		{"live-1", keys.Audio, 4294967295, "a7df7a76-7a90-5094-9539-35e591f9ad9f"},
		{"café", keys.All, 7, "f5a9c860-f2e0-5797-98a5-8c07155b7b8e"},
	} {
		if got := DeriveKID(c.content, c.t, c.period).String(); got != c.want {
			t.Errorf("DeriveKID(%q, %s, %d) = %s, want %s", c.content, c.t, c.period, got, c.want)
		}
	}
	seen := map[drm.KeyID]string{}
	for _, c := range []string{"a", "b", "a\x00SD"} {
		for _, tt := range []keys.TrackType{keys.All, keys.SD, keys.HD} {
			for _, p := range []uint32{0, 1} {
				k := DeriveKID(c, tt, p)
				if k[6]>>4 != 5 || k[8]>>6 != 2 {
					t.Fatalf("%s is not a version 5 UUID", k)
				}
				if prev, dup := seen[k]; dup {
					t.Fatalf("%q %s %d and %s share KID %s", c, tt, p, prev, k)
				}
				seen[k] = c + "/" + tt.String()
			}
		}
	}
}

// TestClientAcceptsKIDOverride: a provider that answers with KIDs of its
// own (SPEKE v1 "KID override"; here drmpipe's handler given a request
// whose KID was zeroed on the way) still gives the client its keys.
func TestClientAcceptsKIDOverride(t *testing.T) {
	e := newEnv(t, testConfig())
	zeroing := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := cpix.Unmarshal(readAll(r))
		if err != nil {
			t.Error(err)
			return
		}
		for i := range d.ContentKeys {
			d.ContentKeys[i].KID = drm.KeyID{}
		}
		for i := range d.DRMSystems {
			d.DRMSystems[i].KID = drm.KeyID{}
		}
		for i := range d.UsageRules {
			d.UsageRules[i].KID = drm.KeyID{}
		}
		b, _ := cpix.Marshal(d)
		r2 := httptest.NewRequest(http.MethodPost, r.URL.Path, bytes.NewReader(b))
		r2.Header = r.Header
		e.h.ServeHTTP(w, r2)
	}))
	ctx := context.Background()
	for _, v := range []int{1, 2} {
		path := map[int]string{1: PathV1, 2: PathV2}[v]
		c, err := NewClient(ClientConfig{URL: zeroing.URL + path, Version: v, Token: goodToken, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		content := "override-v" + map[int]string{1: "1", 2: "2"}[v]
		resp, err := c.GetKeys(ctx, ClientRequest{ContentID: content, Scheme: cenc.CBCS, Systems: []drm.System{drm.Widevine}})
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		slot, err := e.store.GetOrCreate(ctx, content, keys.All, 0)
		if err != nil {
			t.Fatal(err)
		}
		k := resp.Keys[keys.All]
		if k.KID != slot.KID || k.KID == DeriveKID(content, keys.All, 0) || !bytes.Equal(k.Key, slot.Key) {
			t.Fatalf("v%d: client key %s, want the provider's %s", v, k.KID, slot.KID)
		}
		if len(resp.Signaling[k.KID][drm.Widevine].PSSH) == 0 {
			t.Fatalf("v%d: signaling not under the provider's KID", v)
		}
	}
}
