package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
)

// TestOriginServesOnlyPackagedFiles runs `drmpipe package --content-id`
// and `drmpipe serve` on one data directory, then plants what an attacker
// with write access to DATA/content (or a careless operator) would: links
// to the KEK file, the key database and the token signing key, a link to
// the data directory, and a FIFO. The origin serves the packaged files
// with ranges and media types, and answers 404 for every plant without
// leaking a byte of the files behind them or hanging.
func TestOriginServesOnlyPackagedFiles(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, setup{})
	r := d.start(t)
	if _, stderr, code := d.cli(t, "package", "-q", "--config", d.cfgFile, "--content-id", "movie",
		"--key", "00112233445566778899aabbccddeeff:0123456789abcdef0123456789abcdef", e2eClip(t)); code != 0 {
		t.Fatalf("drmpipe package: %s", stderr)
	}
	get := func(path string, headers ...string) response {
		return do(t, http.MethodGet, r.url+path, nil, headers...)
	}
	if resp := get("/content/movie/manifest.mpd"); resp.status != 200 || resp.header.Get("Content-Type") != "application/dash+xml" || !bytes.Contains(resp.body, []byte("<MPD")) {
		t.Fatalf("manifest: %d %q %.80q", resp.status, resp.header.Get("Content-Type"), resp.body)
	}
	if resp := get("/content/movie/video_360p/init.mp4", "Range", "bytes=4-7"); resp.status != 206 || string(resp.body) != "ftyp" {
		t.Fatalf("init range: %d %q", resp.status, resp.body)
	}

	content := filepath.Join(d.dir, "content")
	var secrets [][]byte
	for _, name := range []string{local.DefaultFileName, "keys.db", entitlement.SigningKeyFile} {
		b, err := os.ReadFile(filepath.Join(d.dir, name))
		if err != nil || len(b) < 32 {
			t.Fatalf("%s: %v", name, err)
		}
		secrets = append(secrets, b[:32])
	}
	plant := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	plant(os.Symlink(filepath.Join("..", "..", local.DefaultFileName), filepath.Join(content, "movie", "kek.m4s")))
	plant(os.Symlink(filepath.Join(d.dir, "keys.db"), filepath.Join(content, "movie", "keys.mp4")))
	plant(os.Symlink("..", filepath.Join(content, "data")))
	plant(os.Symlink("movie", filepath.Join(content, "alias")))
	plant(syscall.Mkfifo(filepath.Join(content, "movie", "pipe.m4s"), 0o644))
	t.Cleanup(func() { // releases a handler blocked on the FIFO, should there be one
		if f, err := os.OpenFile(filepath.Join(content, "movie", "pipe.m4s"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	for _, p := range []string{
		"/content/movie/kek.m4s",
		"/content/movie/keys.mp4",
		"/content/data/" + entitlement.SigningKeyFile,
		"/content/data/" + local.DefaultFileName,
		"/content/alias/manifest.mpd",
		"/content/movie/pipe.m4s",
		"/content/movie/a%00b.m4s",
		"/content/movie/manifest.mpd/x",
	} {
		resp := get(p)
		if resp.status != http.StatusNotFound || resp.errBody(t).Code != "not_found" {
			t.Errorf("%s: %d %q", p, resp.status, resp.body)
		}
		for _, s := range secrets {
			if bytes.Contains(resp.body, s) {
				t.Errorf("%s: answer holds a secret file's bytes", p)
			}
		}
	}
}

// TestContentIDEntryPoints sends a content ID that names a path outside
// the content root to every HTTP entry point: each answers 4xx naming the
// field and the content ID rule, and the key store gets no key for it.
func TestContentIDEntryPoints(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, setup{Edit: func(m map[string]any) {
		m["keys"] = map[string]any{"broker_hmac_key": strings.Repeat("5a", 32)}
	}})
	r := d.start(t)
	spekeKey := r.apiKey(t, apikey.ScopeSPEKE)
	adminKey := r.apiKey(t, apikey.ScopeAdmin)
	mintKey := r.apiKey(t, apikey.ScopeLicenseToken)
	const bad = "../../x"
	jsonBody := func(v any) []byte {
		b, _ := json.Marshal(v)
		return b
	}
	spekeV2 := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX contentId="` + bad + `" version="2.3" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">
  <cpix:ContentKeyList><cpix:ContentKey kid="6c5f5206-7d98-4808-84d8-94f132c1e9fe" commonEncryptionScheme="cbcs"/></cpix:ContentKeyList>
  <cpix:DRMSystemList><cpix:DRMSystem kid="6c5f5206-7d98-4808-84d8-94f132c1e9fe" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"><cpix:PSSH/></cpix:DRMSystem></cpix:DRMSystemList>
  <cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid="6c5f5206-7d98-4808-84d8-94f132c1e9fe" intendedTrackType="ALL"/></cpix:ContentKeyUsageRuleList>
</cpix:CPIX>`)
	spekeV1 := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX id="` + bad + `" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">
  <cpix:ContentKeyList><cpix:ContentKey kid="6c5f5206-7d98-4808-84d8-94f132c1e9fe"/></cpix:ContentKeyList>
</cpix:CPIX>`)
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		headers            []string
		status             int
		field              string
	}{
		{"SPEKE v2", http.MethodPost, "/speke/v2/copyProtection", spekeV2, []string{"X-Speke-Version", "2.0", "Authorization", "Bearer " + spekeKey}, 422, "CPIX@contentId"},
		{"SPEKE v1", http.MethodPost, "/speke/v1/copyProtection", spekeV1, []string{"Authorization", "Bearer " + spekeKey}, 422, "CPIX@id"},
		{"token minting", http.MethodPost, "/v1/tokens", jsonBody(map[string]string{"user": "alice", "content": bad}), []string{"Authorization", "Bearer " + mintKey}, 400, "content"},
		{"admin key create", http.MethodPost, "/v1/admin/keys", jsonBody(map[string]string{"contentId": bad}), []string{"Authorization", "Bearer " + adminKey}, 400, "contentId"},
		{"admin key list", http.MethodGet, "/v1/admin/keys?contentId=..%2F..%2Fx", nil, []string{"Authorization", "Bearer " + adminKey}, 400, "contentId"},
		{"broker URL", http.MethodPost, "/v1/admin/broker-urls", jsonBody(map[string]string{"contentId": bad}), []string{"Authorization", "Bearer " + adminKey}, 400, "contentId"},
	} {
		resp := do(t, tc.method, r.url+tc.path, tc.body, append([]string{"Content-Type", "application/json"}, tc.headers...)...)
		if resp.status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, resp.status, tc.status, resp.body)
			continue
		}
		if e := resp.errBody(t); e.Code != "invalid_request" || !strings.Contains(e.Message, tc.field+": invalid content ID") {
			t.Errorf("%s: %+v", tc.name, e)
		}
	}
	if _, stderr, code := d.cli(t, "token", "--config", d.cfgFile, "--content", bad, "--user", "alice"); code == 0 || !strings.Contains(stderr, "--content: invalid content ID") {
		t.Errorf("drmpipe token: exit %d %s", code, stderr)
	}
	if list, err := r.Keys.List(t.Context(), bad); err != nil || len(list) != 0 {
		t.Errorf("the store holds %d keys for %q (%v)", len(list), bad, err)
	}
}
