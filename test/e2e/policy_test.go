package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// Countries of the test GeoIP database: every request of these tests comes
// from 127.0.0.1, which the database places in loopCountry; proxyClient is
// an address a trusted proxy forwards for.
const (
	loopCountry   = "SE"
	proxyClient   = "81.2.69.160"
	proxyCountry  = "GB"
	unknownClient = "203.0.113.7" // TEST-NET-3, not in the database
)

// writeGeoIPDB builds a GeoIP2-Country database with mmdbwriter (the
// writer MaxMind publishes for custom databases) mapping 127.0.0.0/8 to
// loopCountry and 81.2.69.0/24 to proxyCountry, and returns its path.
func writeGeoIPDB(t *testing.T) string {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-Country", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, cc := range map[string]string{"127.0.0.0/8": loopCountry, "81.2.69.0/24": proxyCountry} {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(cc)}}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// subscriptionDouble is the operator's subscription callback: user
// "lapsed" is inactive, user "stall" never gets an answer, everyone else is
// active. It counts calls per user and refuses calls without the
// configured Authorization header.
type subscriptionDouble struct {
	*httptest.Server
	auth  string
	stop  chan struct{}
	mu    sync.Mutex
	calls map[string]int
}

func newSubscriptionDouble(t *testing.T, auth string) *subscriptionDouble {
	s := &subscriptionDouble{auth: auth, stop: make(chan struct{}), calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != s.auth {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		user := r.URL.Query().Get("user")
		s.mu.Lock()
		s.calls[user+"/"+r.URL.Query().Get("content")]++
		s.mu.Unlock()
		switch user {
		case "stall":
			select {
			case <-r.Context().Done():
			case <-s.stop:
			}
			return
		case "lapsed":
			_, _ = io.WriteString(w, `{"active": false}`)
		default:
			_, _ = io.WriteString(w, `{"active": true}`)
		}
	}))
	t.Cleanup(func() { close(s.stop); s.Close() })
	return s
}

func (s *subscriptionDouble) count(user, content string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[user+"/"+content]
}

// purgeReceiver is a CDN purge webhook recording every POSTed body.
func purgeReceiver(t *testing.T) (*httptest.Server, <-chan []byte) {
	got := make(chan []byte, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/json" {
			select {
			case got <- b:
			default:
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// licenseFrom posts a ClearKey request of the given type, optionally with
// an X-Forwarded-For header.
func (r *replica) licenseFrom(t *testing.T, token, typ, xff string, kids ...drm.KeyID) response {
	t.Helper()
	req := map[string]any{"type": typ}
	var ks []string
	for _, k := range kids {
		ks = append(ks, base64.RawURLEncoding.EncodeToString(k[:]))
	}
	req["kids"] = ks
	body, _ := json.Marshal(req)
	h := []string{"Authorization", "Bearer " + token, "Content-Type", "application/json"}
	if xff != "" {
		h = append(h, "X-Forwarded-For", xff)
	}
	return do(t, http.MethodPost, r.url+"/license/clearkey", body, h...)
}

// refused asserts a refusal with status and code.
func refused(t *testing.T, what string, resp response, status int, code string) errorBody {
	t.Helper()
	if resp.status == http.StatusOK {
		t.Fatalf("%s: granted (200), want %d %s", what, status, code) // the body holds keys: not printed
	}
	if resp.status != status {
		t.Fatalf("%s: status %d, want %d (%s)", what, resp.status, status, resp.body)
	}
	e := resp.errBody(t)
	if e.Code != code {
		t.Errorf("%s: code %q, want %q (%s)", what, e.Code, code, e.Message)
	}
	return e
}

// TestPolicyRules runs `drmpipe serve` with a policy: section and checks
// each rule of issue 4 through the ClearKey endpoint: geography (with a
// GeoIP database built by mmdbwriter, and X-Forwarded-For behind a trusted
// proxy), device limit, subscription callback (inactive, stalled, cached),
// persistence, and the CDN purge webhook after a revocation.
func TestPolicyRules(t *testing.T) {
	t.Parallel()
	geoDB := writeGeoIPDB(t)
	const cbAuth = "Bearer sub-cb-S3cret-71"
	subs := newSubscriptionDouble(t, cbAuth)
	purge, purged := purgeReceiver(t)

	d := newDeployment(t, setup{Edit: func(m map[string]any) {
		m["server"].(map[string]any)["trusted_proxies"] = []string{"127.0.0.1"}
		m["license"].(map[string]any)["purge_webhooks"] = []string{purge.URL + "/purge"}
		m["policy"] = map[string]any{
			"geoip_file": geoDB,
			"subscription": map[string]any{
				"callback_url": subs.URL + "/subscription",
				"headers":      map[string]any{"Authorization": cbAuth},
				"timeout":      "300ms",
				"ttl":          "1m",
			},
			"content": map[string]any{
				"geo-deny":  map[string]any{"geo": map[string]any{"deny": []string{loopCountry}}},
				"geo-gb":    map[string]any{"geo": map[string]any{"allow": []string{proxyCountry}}},
				"geo-open":  map[string]any{},
				"devices":   map[string]any{"max_devices": 1},
				"subscribe": map[string]any{"require_subscription": true},
				"offline":   map[string]any{"allow_persistent": true},
			},
		}
	}})
	d.secrets.addString("subscription callback header", cbAuth)
	r := d.start(t)
	k := map[string]keys.ContentKey{}
	for _, cid := range []string{"geo-deny", "geo-gb", "geo-open", "devices", "subscribe", "offline"} {
		k[cid] = r.key(t, cid, keys.SD)
	}
	tok := func(user, cid, device string) string {
		return r.token(t, entitlement.Claims{Subject: user, ContentID: cid, DeviceID: device})
	}
	lic := func(user, cid, xff string) response {
		return r.licenseFrom(t, tok(user, cid, ""), "temporary", xff, k[cid].KID)
	}

	t.Run("geo", func(t *testing.T) {
		e := refused(t, "denied country", lic("gus", "geo-deny", ""), http.StatusForbidden, "geo_blocked")
		if e.RetryAfter != 0 {
			t.Errorf("geo refusal carries retryAfter %d", e.RetryAfter)
		}
		checkLicense(t, lic("gus", "geo-open", ""), k["geo-open"])
		refused(t, "allow list without the client's country", lic("gus", "geo-gb", ""), http.StatusForbidden, "geo_blocked")
	})

	t.Run("geo_forwarded_by_trusted_proxy", func(t *testing.T) {
		// The peer 127.0.0.1 is a trusted proxy: the forwarded address's
		// country decides.
		checkLicense(t, lic("gus", "geo-gb", proxyClient), k["geo-gb"])
		checkLicense(t, lic("gus", "geo-deny", proxyClient), k["geo-deny"])
		// A client-supplied entry left of the real one is not believed:
		// the right-most untrusted hop is the client.
		refused(t, "spoofed left-most hop", lic("gus", "geo-gb", proxyClient+", 127.0.0.2"), http.StatusForbidden, "geo_blocked")
		// An address the database does not know is refused while a rule
		// is set (allow_unknown is off).
		refused(t, "unknown country", lic("gus", "geo-deny", unknownClient), http.StatusForbidden, "geo_blocked")
	})

	t.Run("device_limit", func(t *testing.T) {
		checkLicense(t, r.licenseFrom(t, tok("dana", "devices", "tv"), "temporary", "", k["devices"].KID), k["devices"])
		refused(t, "second device", r.licenseFrom(t, tok("dana", "devices", "phone"), "temporary", "", k["devices"].KID), http.StatusForbidden, "device_limit")
		// The registered device keeps working; the limit is per user.
		checkLicense(t, r.licenseFrom(t, tok("dana", "devices", "tv"), "temporary", "", k["devices"].KID), k["devices"])
		checkLicense(t, r.licenseFrom(t, tok("eddie", "devices", "phone"), "temporary", "", k["devices"].KID), k["devices"])
		// Content without a limit ignores devices.
		checkLicense(t, r.licenseFrom(t, tok("dana", "geo-open", "phone"), "temporary", "", k["geo-open"].KID), k["geo-open"])
	})

	t.Run("subscription", func(t *testing.T) {
		refused(t, "inactive subscription", lic("lapsed", "subscribe", ""), http.StatusForbidden, "subscription_inactive")
		checkLicense(t, lic("paying", "subscribe", ""), k["subscribe"])
		checkLicense(t, lic("paying", "subscribe", ""), k["subscribe"])
		if n := subs.count("paying", "subscribe"); n != 1 {
			t.Errorf("callback asked %d times for two requests within the TTL, want 1 (cached)", n)
		}
		// Content that does not require a subscription never asks.
		checkLicense(t, lic("lapsed", "geo-open", ""), k["geo-open"])
		if n := subs.count("lapsed", "geo-open"); n != 0 {
			t.Errorf("callback asked %d times for content without require_subscription", n)
		}

		start := time.Now()
		resp := lic("stall", "subscribe", "")
		took := time.Since(start)
		e := refused(t, "stalled callback", resp, http.StatusServiceUnavailable, "unavailable")
		if e.RetryAfter < 1 {
			t.Errorf("stalled callback: retryAfter %d, want >= 1", e.RetryAfter)
		}
		if took > 3*time.Second {
			t.Errorf("stalled callback answered after %v; the 300ms timeout did not bound it", took)
		}
		if body := string(resp.body); strings.Contains(body, subs.URL) || strings.Contains(body, "deadline") {
			t.Errorf("refusal leaks callback detail: %s", body)
		}
		// Errors are not cached: the next request asks again.
		refused(t, "stalled callback again", lic("stall", "subscribe", ""), http.StatusServiceUnavailable, "unavailable")
		if n := subs.count("stall", "subscribe"); n != 2 {
			t.Errorf("stalled callback asked %d times for two requests, want 2 (errors never cached)", n)
		}
	})

	t.Run("persistence", func(t *testing.T) {
		refused(t, "persistent request, default policy", r.licenseFrom(t, tok("pia", "geo-open", ""), "persistent-license", "", k["geo-open"].KID), http.StatusForbidden, "not_entitled")
		resp := r.licenseFrom(t, tok("pia", "offline", ""), "persistent-license", "", k["offline"].KID)
		checkLicense(t, resp, k["offline"])
		var set jwkSet
		if err := json.Unmarshal(resp.body, &set); err != nil || set.Type != "persistent-license" {
			t.Errorf("allowed persistent license: type %q (%v)", set.Type, err)
		}
		// A temporary license for the same content still works.
		checkLicense(t, lic("pia", "offline", ""), k["offline"])
	})

	t.Run("cdn_purge_webhook", func(t *testing.T) {
		admin := r.apiKey(t, apikey.ScopeAdmin)
		before := time.Now()
		r.revoke(t, admin, "user", "purge-me")
		select {
		case b := <-purged:
			var ev struct {
				Event string    `json:"event"`
				Kind  string    `json:"kind"`
				Value string    `json:"value"`
				At    time.Time `json:"at"`
			}
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatalf("purge webhook body is not the documented JSON: %q (%v)", b, err)
			}
			if ev.Event != "revocation" || ev.Kind != "user" || ev.Value != "purge-me" {
				t.Errorf("purge webhook body %s", b)
			}
			if ev.At.Before(before.Add(-time.Second)) || ev.At.After(time.Now().Add(time.Second)) {
				t.Errorf("purge webhook at %v, revocation made at %v", ev.At, before)
			}
			t.Logf("purge webhook called %v after the revocation", time.Since(before).Round(time.Millisecond))
		case <-time.After(2 * time.Second):
			t.Fatal("no CDN purge webhook call within 2s of POST /v1/admin/revocations")
		}
	})
}

// TestPolicyUntrustedForwardedFor: without server.trusted_proxies, a
// client's X-Forwarded-For is ignored and its own address decides.
func TestPolicyUntrustedForwardedFor(t *testing.T) {
	t.Parallel()
	geoDB := writeGeoIPDB(t)
	d := newDeployment(t, setup{Edit: func(m map[string]any) {
		m["policy"] = map[string]any{
			"geoip_file": geoDB,
			"default":    map[string]any{"geo": map[string]any{"allow": []string{proxyCountry}}},
		}
	}})
	r := d.start(t)
	key := r.key(t, "gb-only", keys.SD)
	resp := r.licenseFrom(t, r.token(t, entitlement.Claims{Subject: "sam", ContentID: "gb-only"}), "temporary", proxyClient, key.KID)
	refused(t, "X-Forwarded-For from an untrusted peer", resp, http.StatusForbidden, "geo_blocked")
}
