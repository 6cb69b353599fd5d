package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// firstKID is the kid of the first JWK of a ClearKey license.
func firstKID(t *testing.T, body []byte) drm.KeyID {
	t.Helper()
	var set jwkSet
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("license without keys: %s", body)
	}
	b, err := base64.RawURLEncoding.DecodeString(set.Keys[0].KID)
	if err != nil || len(b) != 16 {
		t.Fatalf("first JWK kid %q", set.Keys[0].KID)
	}
	if set.Type != "temporary" {
		t.Errorf("license type %q, want temporary", set.Type)
	}
	return drm.KeyID(b)
}

// TestClearKeyLicenseKeys is issue 17's per-track-type content through
// `drmpipe serve`: with policy license_keys entitled (the default) a
// license for one KID carries every key of the content the token entitles,
// the requested one first, so players that ask for the first key only
// (hls.js) decrypt audio and video; with requested it carries exactly the
// requested keys. Never another content's key, never a track type the token
// does not name, never a key revoked since a license was cached.
func TestClearKeyLicenseKeys(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, setup{Edit: func(m map[string]any) {
		m["policy"] = map[string]any{"content": map[string]any{"perkey": map[string]any{"license_keys": "requested"}}}
	}})
	r := d.start(t)
	audio, sd, hd := r.key(t, "ladder", keys.Audio), r.key(t, "ladder", keys.SD), r.key(t, "ladder", keys.HD)
	pkAudio, pkSD := r.key(t, "perkey", keys.Audio), r.key(t, "perkey", keys.SD)
	neighbour := r.key(t, "neighbour", keys.SD)
	tok := func(sub, cid string, tt ...keys.TrackType) string {
		return r.token(t, entitlement.Claims{Subject: sub, ContentID: cid, TrackTypes: tt})
	}

	t.Run("entitled", func(t *testing.T) {
		resp := r.clearKeyLicense(t, tok("ann", "ladder"), audio.KID)
		checkLicense(t, resp, audio, sd, hd)
		if first := firstKID(t, resp.body); first != audio.KID {
			t.Errorf("first key %v, want the requested %v", first, audio.KID)
		}
		resp = r.clearKeyLicense(t, tok("ann", "ladder"), hd.KID, audio.KID)
		checkLicense(t, resp, hd, audio, sd)
		if first := firstKID(t, resp.body); first != hd.KID {
			t.Errorf("first key %v, want the first requested %v", first, hd.KID)
		}
	})

	t.Run("track_types_of_the_token", func(t *testing.T) {
		checkLicense(t, r.clearKeyLicense(t, tok("ben", "ladder", keys.SD, keys.Audio), audio.KID), audio, sd)
		resp := r.clearKeyLicense(t, tok("ben", "ladder", keys.SD, keys.Audio), hd.KID)
		if resp.status != http.StatusForbidden || resp.errBody(t).Code != "not_entitled" {
			t.Errorf("SD token asking for the HD key: %d %s", resp.status, resp.body)
		}
	})

	t.Run("requested", func(t *testing.T) {
		checkLicense(t, r.clearKeyLicense(t, tok("cy", "perkey"), pkAudio.KID), pkAudio)
		checkLicense(t, r.clearKeyLicense(t, tok("cy", "perkey"), pkSD.KID), pkSD)
	})

	t.Run("never_another_content", func(t *testing.T) {
		checkLicense(t, r.clearKeyLicense(t, tok("dee", "neighbour"), neighbour.KID), neighbour)
		resp := r.clearKeyLicense(t, tok("dee", "ladder"), audio.KID, neighbour.KID)
		if resp.status != http.StatusForbidden {
			t.Errorf("ladder token asking for a neighbour key: %d %s", resp.status, resp.body)
		}
	})

	t.Run("cache_and_metrics", func(t *testing.T) {
		t1 := tok("eve", "ladder")
		first := r.clearKeyLicense(t, t1, sd.KID)
		checkLicense(t, first, sd, audio, hd)
		again := r.clearKeyLicense(t, t1, sd.KID)
		checkLicense(t, again, sd, audio, hd)
		if again.header.Get("X-Drmpipe-Cache") != "hit" {
			t.Errorf("duplicate license: cache %q, want hit", again.header.Get("X-Drmpipe-Cache"))
		}
		m := do(t, http.MethodGet, r.url+"/metrics", nil)
		for _, want := range []string{`drmpipe_keys_requests_total{op="list",outcome="ok"}`, `drmpipe_keys_requests_total{op="get",outcome="ok"}`} {
			if !strings.Contains(string(m.body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}
