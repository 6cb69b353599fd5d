package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// mintToken asks POST /v1/tokens for a playback token.
func (r *replica) mintToken(t *testing.T, apiKey string, req map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(req)
	resp := do(t, http.MethodPost, r.url+"/v1/tokens", b, "Authorization", "Bearer "+apiKey, "Content-Type", "application/json")
	if resp.status != http.StatusOK {
		t.Fatalf("POST /v1/tokens: %d %s", resp.status, resp.body)
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil || out.Token == "" {
		t.Fatalf("POST /v1/tokens: bad answer %q", resp.body)
	}
	r.d.secrets.addString("playback token", out.Token)
	return out.Token
}

// revoke records a revocation through the admin API.
func (r *replica) revoke(t *testing.T, adminKey, kind, value string) {
	t.Helper()
	r.revokeWant(t, adminKey, kind, value, http.StatusOK)
}

// revokeWant records a revocation through the admin API and requires the
// answer to have status want.
func (r *replica) revokeWant(t *testing.T, adminKey, kind, value string, want int) response {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"kind": kind, "value": value, "reason": "e2e test"})
	resp := do(t, http.MethodPost, r.url+"/v1/admin/revocations", b, "Authorization", "Bearer "+adminKey, "Content-Type", "application/json")
	if resp.status != want {
		t.Fatalf("POST /v1/admin/revocations %s %s: %d %s, want %d", kind, value, resp.status, resp.body, want)
	}
	return resp
}

// checkLicense asserts a 200 ClearKey license holding exactly the store's
// keys of want.
func checkLicense(t *testing.T, resp response, want ...keys.ContentKey) {
	t.Helper()
	if resp.status != http.StatusOK {
		t.Fatalf("ClearKey license: status %d, body %s", resp.status, resp.body)
	}
	got := licenseKeys(t, resp.body)
	if len(got) != len(want) {
		t.Errorf("license has %d keys, want %d", len(got), len(want))
	}
	for _, k := range want {
		if !bytes.Equal(got[k.KID], k.Key) {
			t.Errorf("license key for KID %s differs from the store's", k.KID)
		}
	}
}

// TestClearKeyLicensePath is issue 4's license path through `drmpipe serve`:
// tokens from POST /v1/tokens, `drmpipe token` and an operator backend, the
// ClearKey answer, CORS, entitlement by KID, and revocation of a user and of
// a KID through the admin API, audited.
func TestClearKeyLicensePath(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, setup{})
	r := d.start(t)
	video := r.key(t, "lic", keys.SD)
	audio := r.key(t, "lic", keys.Audio)
	tokenKey := r.apiKey(t, apikey.ScopeLicenseToken)
	adminKey := r.apiKey(t, apikey.ScopeAdmin)

	t.Run("token_from_api", func(t *testing.T) {
		tok := r.mintToken(t, tokenKey, map[string]any{"user": "alice", "content": "lic"})
		resp := r.clearKeyLicense(t, tok, video.KID, audio.KID)
		checkLicense(t, resp, video, audio)
		if got := resp.header.Get("Access-Control-Allow-Origin"); got != playerOrigin {
			t.Errorf("Access-Control-Allow-Origin %q, want the echoed %q", got, playerOrigin)
		}
		if exp := resp.header.Get("Access-Control-Expose-Headers"); exp == "" {
			t.Error("no Access-Control-Expose-Headers on a CORS license answer")
		}
		if cc := resp.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("license Cache-Control %q, want no-store", cc)
		}
	})

	t.Run("token_from_cli", func(t *testing.T) {
		stdout, stderr, code := d.cli(t, "token", "--config", d.cfgFile, "--content", "lic", "--user", "bob", "--ttl", "20s")
		if code != 0 {
			t.Fatalf("drmpipe token: exit %d: %s", code, stderr)
		}
		tok := strings.TrimSpace(stdout)
		d.secrets.addString("playback token", tok)
		// policy.default.license_keys entitled: the audio key comes along.
		checkLicense(t, r.clearKeyLicense(t, tok, video.KID), video, audio)
	})

	t.Run("token_from_operator_each_audience", func(t *testing.T) {
		// tokens.audiences lists two accepted audiences; a token naming
		// either must be accepted (docs/config.md: "a token must name one
		// of them").
		for _, aud := range []string{audience, altAudience} {
			resp := r.clearKeyLicense(t, d.operatorToken(t, aud, "olivia", "lic"), video.KID)
			if resp.status != http.StatusOK {
				t.Errorf("operator token with aud %q: status %d %s", aud, resp.status, resp.body)
			}
		}
	})

	t.Run("preflight", func(t *testing.T) {
		resp := do(t, http.MethodOptions, r.url+"/license/clearkey", nil, "Origin", playerOrigin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
		if resp.status != http.StatusNoContent && resp.status != http.StatusOK {
			t.Fatalf("preflight status %d", resp.status)
		}
		if got := resp.header.Get("Access-Control-Allow-Origin"); got != playerOrigin {
			t.Errorf("preflight Allow-Origin %q, want %q", got, playerOrigin)
		}
		if h := strings.ToLower(resp.header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") || !strings.Contains(h, "content-type") {
			t.Errorf("preflight Allow-Headers %q lacks Authorization or Content-Type", h)
		}
		if m := resp.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
			t.Errorf("preflight Allow-Methods %q", m)
		}
		other := do(t, http.MethodOptions, r.url+"/license/clearkey", nil, "Origin", "https://evil.example",
			"Access-Control-Request-Method", "POST")
		if got := other.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight from an unlisted origin got Allow-Origin %q", got)
		}
	})

	t.Run("unentitled_and_unknown_kid", func(t *testing.T) {
		tok := r.mintToken(t, tokenKey, map[string]any{"user": "carl", "content": "lic", "kids": []string{video.KID.String()}})
		resp := r.clearKeyLicense(t, tok, audio.KID)
		refused(t, "KID outside the token's kids claim", resp, http.StatusForbidden, "not_entitled")
		if bytes.Contains(resp.body, []byte(`"k"`)) {
			t.Error("refusal carries a key")
		}
		// The entitled KID alone is still served with that token.
		checkLicense(t, r.clearKeyLicense(t, tok, video.KID), video)

		var unknown drm.KeyID
		copy(unknown[:], "unknown-kid-0001")
		tok2 := r.mintToken(t, tokenKey, map[string]any{"user": "carl", "content": "lic"})
		resp = r.clearKeyLicense(t, tok2, video.KID, unknown)
		refused(t, "unknown KID", resp, http.StatusNotFound, "unknown_key")
		if bytes.Contains(resp.body, []byte(`"keys"`)) {
			t.Error("a request with an unknown KID still got keys (must be refused whole)")
		}
	})

	t.Run("revoke_user", func(t *testing.T) {
		checkLicense(t, r.clearKeyLicense(t, r.mintToken(t, tokenKey, map[string]any{"user": "dave", "content": "lic"}), video.KID), video, audio)
		start := time.Now()
		r.revoke(t, adminKey, "user", "dave")
		var last response
		refused := eventually(time.Second, 50*time.Millisecond, func() bool {
			last = r.clearKeyLicense(t, r.token(t, entitlement.Claims{Subject: "dave", ContentID: "lic"}), video.KID)
			return last.status == http.StatusUnauthorized || last.status == http.StatusForbidden
		})
		if !refused {
			t.Fatalf("revoked user still served %v after the revocation: %d %s", time.Since(start), last.status, last.body)
		}
		if e := last.errBody(t); e.Code != "revoked" {
			t.Errorf("revoked user: code %q, want revoked", e.Code)
		}
		// Another user is unaffected.
		checkLicense(t, r.clearKeyLicense(t, r.token(t, entitlement.Claims{Subject: "erin", ContentID: "lic"}), video.KID), video, audio)
		audit, err := r.Keys.ListAudit(context.Background(), apikey.AuditQuery{Target: "dave"})
		if err != nil {
			t.Fatal(err)
		}
		if !hasAudit(audit, "revoke.user", "dave") {
			t.Errorf("no audit entry for the user revocation: %+v", audit)
		}
	})

	t.Run("revoke_kid", func(t *testing.T) {
		resp := do(t, http.MethodPost, r.url+"/v1/admin/keys/"+audio.KID.String()+"/revoke?reason=leaked", nil, "Authorization", "Bearer "+adminKey)
		if resp.status != http.StatusOK {
			t.Fatalf("revoke KID: %d %s", resp.status, resp.body)
		}
		stored, err := r.Keys.Get(context.Background(), audio.KID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.State != keys.StateRevoked || stored.RevokedAt.IsZero() {
			t.Errorf("revoked KID: store state %s, revokedAt %v", stored.State, stored.RevokedAt)
		}
		lic := r.clearKeyLicense(t, r.token(t, entitlement.Claims{Subject: "frank", ContentID: "lic"}), audio.KID)
		refused(t, "revoked KID", lic, http.StatusForbidden, "revoked")
		// The next packaging (get-or-create of that slot) gets a new key.
		next, err := r.Keys.GetOrCreate(context.Background(), "lic", keys.Audio, 0)
		if err != nil {
			t.Fatal(err)
		}
		r.d.secrets.addKey(next.Key)
		if next.KID == audio.KID {
			t.Error("get-or-create after a KID revocation returned the revoked KID")
		}
		audit, _ := r.Keys.ListAudit(context.Background(), apikey.AuditQuery{Target: audio.KID.String()})
		if !hasAudit(audit, "revoke.kid", audio.KID.String()) {
			t.Errorf("no audit entry for the KID revocation: %+v", audit)
		}
		// The other key of the content is still served, never with the
		// revoked one (the new audio key may come along).
		lic = r.clearKeyLicense(t, r.token(t, entitlement.Claims{Subject: "frank", ContentID: "lic"}), video.KID)
		if lic.status != http.StatusOK {
			t.Fatalf("video after the audio KID's revocation: %d %s", lic.status, lic.body)
		}
		got := licenseKeys(t, lic.body)
		if !bytes.Equal(got[video.KID], video.Key) {
			t.Error("license lacks the video key")
		}
		if _, ok := got[audio.KID]; ok {
			t.Error("license carries the revoked audio key")
		}
	})

	t.Run("scopes", func(t *testing.T) {
		b := []byte(`{"user":"x","content":"lic"}`)
		if resp := do(t, http.MethodPost, r.url+"/v1/tokens", b); resp.status != http.StatusUnauthorized {
			t.Errorf("POST /v1/tokens without credential: %d, want 401", resp.status)
		}
		if resp := do(t, http.MethodPost, r.url+"/v1/tokens", b, "Authorization", "Bearer "+adminKey); resp.status != http.StatusForbidden {
			t.Errorf("POST /v1/tokens with an admin key: %d, want 403", resp.status)
		}
		rb := []byte(`{"kind":"user","value":"x"}`)
		if resp := do(t, http.MethodPost, r.url+"/v1/admin/revocations", rb, "Authorization", "Bearer "+tokenKey); resp.status != http.StatusForbidden {
			t.Errorf("revocation with a license-token key: %d, want 403", resp.status)
		}
	})
}

func hasAudit(list []apikey.Entry, action, target string) bool {
	for _, e := range list {
		if e.Action == action && e.Target == target && strings.HasPrefix(e.Actor, "apikey:") {
			return true
		}
	}
	return false
}

// TestRevocationAcrossReplicas: two `drmpipe serve` replicas share one
// Redis (and one key store); a revocation recorded on replica A is enforced
// by replica B within a second (issue 4: "takes effect on every replica
// within a second").
func TestRevocationAcrossReplicas(t *testing.T) {
	t.Parallel()
	rd := testtools.StartRedis(t)
	d := newDeployment(t, setup{Redis: rd.Addr})
	a := d.start(t)
	b := d.start(t)
	k := a.key(t, "shared", keys.HD)
	adminKey := a.apiKey(t, apikey.ScopeAdmin)

	for i, who := range []string{"gina", "hank"} {
		// Tokens minted by A are accepted by B (one signing key per
		// deployment).
		checkLicense(t, b.clearKeyLicense(t, a.token(t, entitlement.Claims{Subject: who, ContentID: "shared"}), k.KID), k)
		kind, value := "user", who
		if i == 1 {
			kind, value = "kid", k.KID.String()
		}
		start := time.Now()
		a.revoke(t, adminKey, kind, value)
		var last response
		refused := eventually(time.Second, 50*time.Millisecond, func() bool {
			last = b.clearKeyLicense(t, a.token(t, entitlement.Claims{Subject: who, ContentID: "shared"}), k.KID)
			return last.status == http.StatusUnauthorized || last.status == http.StatusForbidden
		})
		if !refused {
			t.Fatalf("%s revocation on replica A not enforced by replica B after %v: %d %s", kind, time.Since(start), last.status, last.body)
		}
		if e := last.errBody(t); e.Code != "revoked" {
			t.Errorf("%s revoked on A, refused by B with code %q, want revoked", kind, e.Code)
		}
		t.Logf("%s revocation enforced by replica B after %v", kind, time.Since(start).Round(time.Millisecond))
	}
	// Both replicas list the revocations.
	resp := do(t, http.MethodGet, b.url+"/v1/admin/revocations", nil, "Authorization", "Bearer "+adminKey)
	if resp.status != http.StatusOK || !bytes.Contains(resp.body, []byte("gina")) || !bytes.Contains(resp.body, []byte(k.KID.String())) {
		t.Errorf("replica B's revocation list: %d %s", resp.status, resp.body)
	}
}

// TestRevocationsSurviveRestart: without Redis the live revocation state is
// process memory; a server started later on the same store (a restart, or
// a new replica) restores it from the audit log the admin API writes first.
func TestRevocationsSurviveRestart(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, setup{})
	a := d.start(t)
	k := a.key(t, "restart", keys.HD)
	adminKey := a.apiKey(t, apikey.ScopeAdmin)
	checkLicense(t, a.clearKeyLicense(t, a.token(t, entitlement.Claims{Subject: "ivan", ContentID: "restart"}), k.KID), k)
	a.revoke(t, adminKey, "user", "ivan")
	a.revoke(t, adminKey, "device", "ivans-tv")
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}

	b := d.start(t)
	for _, c := range []entitlement.Claims{
		{Subject: "ivan", ContentID: "restart"},
		{Subject: "judy", DeviceID: "ivans-tv", ContentID: "restart"},
	} {
		resp := b.clearKeyLicense(t, b.token(t, c), k.KID)
		if resp.status != http.StatusForbidden {
			t.Errorf("after restart, user %s device %q: status %d, want 403", c.Subject, c.DeviceID, resp.status)
		} else if e := resp.errBody(t); e.Code != "revoked" {
			t.Errorf("after restart, user %s device %q: code %q, want revoked", c.Subject, c.DeviceID, e.Code)
		}
	}
	checkLicense(t, b.clearKeyLicense(t, b.token(t, entitlement.Claims{Subject: "judy", DeviceID: "judys-tv", ContentID: "restart"}), k.KID), k)
	resp := do(t, http.MethodGet, b.url+"/v1/admin/revocations", nil, "Authorization", "Bearer "+adminKey)
	if resp.status != http.StatusOK || !bytes.Contains(resp.body, []byte(`"ivan"`)) || !bytes.Contains(resp.body, []byte(`"ivans-tv"`)) {
		t.Errorf("revocation list after restart: %d %s", resp.status, resp.body)
	}
}

// TestRevocationInput: the admin API refuses an ID no token may carry with
// 400 invalid_request (a permanent error; it was a retryable 503 when the
// audit log refused the ID), and answers a revocation with the value as
// recorded (KIDs canonical) and the real revocation time; `drmpipe revoke`
// prints the same.
func TestRevocationInput(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, setup{})
	r := d.start(t)
	adminKey := r.apiKey(t, apikey.ScopeAdmin)
	post := func(kind, value, reason string) response {
		b, _ := json.Marshal(map[string]string{"kind": kind, "value": value, "reason": reason})
		return do(t, http.MethodPost, r.url+"/v1/admin/revocations", b, "Authorization", "Bearer "+adminKey, "Content-Type", "application/json")
	}
	for _, c := range []struct{ name, kind, value, reason string }{
		{"300-byte device ID", "device", strings.Repeat("d", 300), ""},
		{"257-byte user ID", "user", strings.Repeat("u", 257), ""},
		{"NUL in a user ID", "user", "ali\x00ce", ""},
		{"padded user ID", "user", "  x  ", ""},
		{"tab in a token ID", "token", "j\t1", ""},
		{"NUL in the reason", "user", "bob", "fraud\x00"},
	} {
		resp := post(c.kind, c.value, c.reason)
		if resp.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (%s)", c.name, resp.status, resp.body)
			continue
		}
		if e := resp.errBody(t); e.Code != "invalid_request" || e.RetryAfter != 0 {
			t.Errorf("%s: %+v, want invalid_request without retryAfter", c.name, e)
		}
	}

	kid := r.key(t, "revocation-input", keys.SD).KID
	before := time.Now().Add(-time.Second)
	for _, c := range []struct{ kind, value, want string }{
		{"user", strings.Repeat("é", 128), strings.Repeat("é", 128)},
		{"kid", "  " + strings.ToUpper(kid.String()) + " ", kid.String()},
	} {
		resp := post(c.kind, c.value, "e2e")
		var got entitlement.Revocation
		if resp.status != http.StatusOK || json.Unmarshal(resp.body, &got) != nil {
			t.Fatalf("revoke %s: %d %s", c.kind, resp.status, resp.body)
		}
		if got.Value != c.want || got.Kind.String() != c.kind || !strings.HasPrefix(got.By, "apikey:") ||
			got.At.Before(before) || got.At.After(time.Now().Add(time.Second)) {
			t.Errorf("revoke %s answered %+v, want value %q and the time of the revocation", c.kind, got, c.want)
		}
	}
	resp := do(t, http.MethodGet, r.url+"/v1/admin/revocations", nil, "Authorization", "Bearer "+adminKey)
	var list struct{ Revocations []entitlement.Revocation }
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &list) != nil || len(list.Revocations) != 2 {
		t.Fatalf("revocation list: %d %s", resp.status, resp.body)
	}

	other := r.key(t, "revocation-input", keys.HD).KID
	stdout, stderr, code := d.cli(t, "revoke", "kid", strings.ToUpper(other.String()), "--server", r.url, "--api-key", adminKey)
	if code != 0 || !strings.Contains(stdout, "revoked kid "+other.String()+" at ") {
		t.Errorf("drmpipe revoke: exit %d, stdout %q, stderr %q; want the canonical KID and the time", code, stdout, stderr)
	}
	_, stderr, code = d.cli(t, "revoke", "user", strings.Repeat("u", 300), "--server", r.url, "--api-key", adminKey)
	if code == 0 || !strings.Contains(stderr, "400 invalid_request") {
		t.Errorf("drmpipe revoke of a 300-byte user: exit %d, stderr %q; want the 400", code, stderr)
	}
}

// TestAuthChallenges: every 401 and 403 of the API-key endpoints (admin,
// token minting, SPEKE) carries the RFC 6750 §3 challenge api/openapi.yaml
// promises; RFC 9110 §11.6.1 requires one on every 401.
func TestAuthChallenges(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, setup{})
	r := d.start(t)
	adminKey := r.apiKey(t, apikey.ScopeAdmin)
	tokenKey := r.apiKey(t, apikey.ScopeLicenseToken)
	const (
		missing   = `Bearer realm="drmpipe"`
		invalid   = `Bearer realm="drmpipe", error="invalid_token"`
		insuffic  = `Bearer realm="drmpipe", error="insufficient_scope"`
		revokeDoc = `{"kind":"user","value":"x"}`
	)
	for _, c := range []struct {
		name, method, path, key, body string
		status                        int
		challenge                     string
	}{
		{"admin without a key", http.MethodGet, "/v1/admin/revocations", "", "", 401, missing},
		{"admin with an unknown key", http.MethodGet, "/v1/admin/revocations", "dp_unknown", "", 401, invalid},
		{"admin with a license-token key", http.MethodPost, "/v1/admin/revocations", tokenKey, revokeDoc, 403, insuffic},
		{"key admin with a license-token key", http.MethodGet, "/v1/admin/keys?contentId=x", tokenKey, "", 403, insuffic},
		{"tokens without a key", http.MethodPost, "/v1/tokens", "", `{}`, 401, missing},
		{"tokens with an admin key", http.MethodPost, "/v1/tokens", adminKey, `{}`, 403, insuffic},
		{"SPEKE without a key", http.MethodPost, "/speke/v2/copyProtection", "", "<cpix/>", 401, missing},
		{"SPEKE with an admin key", http.MethodPost, "/speke/v1/copyProtection", adminKey, "<cpix/>", 403, insuffic},
	} {
		headers := []string{"Content-Type", "application/json"}
		if c.key != "" {
			headers = append(headers, "Authorization", "Bearer "+c.key)
		}
		resp := do(t, c.method, r.url+c.path, []byte(c.body), headers...)
		if resp.status != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, resp.status, c.status, resp.body)
			continue
		}
		if got := resp.header.Get("WWW-Authenticate"); got != c.challenge {
			t.Errorf("%s: WWW-Authenticate %q, want %q", c.name, got, c.challenge)
		}
	}
}
