package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// periodKeys returns the store's keys of contentID by key period, each
// with its clear key, registered as secrets.
func (r *replica) periodKeys(t *testing.T, contentID string) map[uint32][]keys.ContentKey {
	t.Helper()
	ctx := context.Background()
	list, err := r.Keys.List(ctx, contentID)
	if err != nil {
		t.Fatal(err)
	}
	r.d.secrets.addContentID(contentID)
	out := map[uint32][]keys.ContentKey{}
	for _, k := range list {
		sk, err := r.Keys.Get(ctx, k.KID)
		if err != nil {
			t.Fatal(err)
		}
		r.d.secrets.addKey(sk.Key.Key)
		out[k.Period] = append(out[k.Period], sk.Key)
	}
	return out
}

// kidsOf lists the KIDs of ks.
func kidsOf(ks ...[]keys.ContentKey) []drm.KeyID {
	var out []drm.KeyID
	for _, l := range ks {
		for _, k := range l {
			out = append(out, k.KID)
		}
	}
	return out
}

// checkLicenseKIDs requires a 200 license holding exactly want, each with
// the store's key.
func checkLicenseKIDs(t *testing.T, what string, resp response, want ...[]keys.ContentKey) {
	t.Helper()
	if resp.status != http.StatusOK {
		t.Fatalf("%s: status %d, body %s", what, resp.status, resp.body)
	}
	got := licenseKeys(t, resp.body)
	gotKIDs := slices.SortedFunc(maps.Keys(got), func(a, b drm.KeyID) int { return slices.Compare(a[:], b[:]) })
	wantKIDs := kidsOf(want...)
	slices.SortFunc(wantKIDs, func(a, b drm.KeyID) int { return slices.Compare(a[:], b[:]) })
	if !slices.Equal(gotKIDs, wantKIDs) {
		t.Errorf("%s: license KIDs %v, want %v", what, gotKIDs, wantKIDs)
	}
	for _, l := range want {
		for _, k := range l {
			if string(got[k.KID]) != string(k.Key) {
				t.Errorf("%s: key of %s differs from the store's", what, k.KID)
			}
		}
	}
}

// TestLookAheadLicenses is issue 13's look-ahead licenses through `drmpipe
// serve` on an asset packaged by `drmpipe package --key-period` from the
// key store: with license.look_ahead 1 (the default) a license for period
// p's key also carries period p+1's, the last period's nothing more; with
// 0 exactly the period's keys. Emergency re-key: revoking period 1's KID
// through the admin API refuses its licenses at once, while periods 0 and 2
// are still served and no look-ahead (nor a cached license) carries the
// revoked key.
func TestLookAheadLicenses(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, setup{})
	r := d.start(t)
	// 6 s in 2 s GOPs and 2 s key periods: periods 0, 1 and 2.
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 640, Height: 360, Seconds: 6, BFrames: 2, Audio: "aac"})
	if _, stderr, code := d.cli(t, "package", "-q", "--config", d.cfgFile, "--content-id", "rot",
		"--key-period", "2s", "--segment-duration", "2s", clip); code != 0 {
		t.Fatalf("drmpipe package --key-period: %s", stderr)
	}
	p := r.periodKeys(t, "rot")
	if len(p) != 3 || len(p[0]) == 0 || len(p[0]) != len(p[1]) || len(p[1]) != len(p[2]) {
		t.Fatalf("store holds periods %v, want 0, 1 and 2 with the same slots", slices.Sorted(maps.Keys(p)))
	}
	tok := func(sub string) string { return r.token(t, entitlement.Claims{Subject: sub, ContentID: "rot"}) }

	checkLicenseKIDs(t, "period 0", r.clearKeyLicense(t, tok("ann"), p[0][0].KID), p[0], p[1])
	checkLicenseKIDs(t, "period 1", r.clearKeyLicense(t, tok("ann"), p[1][0].KID), p[1], p[2])
	checkLicenseKIDs(t, "last period", r.clearKeyLicense(t, tok("ann"), p[2][0].KID), p[2])

	// A license for period 0, cached, then period 1's first KID revoked.
	cached := tok("ben")
	checkLicenseKIDs(t, "period 0 before the revocation", r.clearKeyLicense(t, cached, p[0][0].KID), p[0], p[1])
	adminKey := r.apiKey(t, apikey.ScopeAdmin)
	revoked := p[1][0]
	if resp := do(t, http.MethodPost, r.url+"/v1/admin/keys/"+revoked.KID.String()+"/revoke?reason=leaked", nil, "Authorization", "Bearer "+adminKey); resp.status != http.StatusOK {
		t.Fatalf("revoke period 1's KID: %d %s", resp.status, resp.body)
	}
	refused(t, "revoked period key", r.clearKeyLicense(t, tok("cy"), revoked.KID), http.StatusForbidden, "revoked")
	rest1 := p[1][1:]
	checkLicenseKIDs(t, "period 0 after the revocation (cached request)", r.clearKeyLicense(t, cached, p[0][0].KID), p[0], rest1)
	checkLicenseKIDs(t, "period 0 after the revocation", r.clearKeyLicense(t, tok("cy"), p[0][0].KID), p[0], rest1)
	checkLicenseKIDs(t, "period 2 after the revocation", r.clearKeyLicense(t, tok("cy"), p[2][0].KID), p[2])

	t.Run("off", func(t *testing.T) {
		off := newDeployment(t, setup{Edit: func(m map[string]any) {
			m["license"].(map[string]any)["look_ahead"] = 0
		}})
		ro := off.start(t)
		for n := range uint32(2) {
			for _, tt := range []keys.TrackType{keys.Audio, keys.SD} {
				k, err := ro.Keys.GetOrCreate(context.Background(), "rot-off", tt, n)
				if err != nil {
					t.Fatal(err)
				}
				_ = k
			}
		}
		po := ro.periodKeys(t, "rot-off")
		checkLicenseKIDs(t, "period 0 without look-ahead", ro.clearKeyLicense(t, ro.token(t, entitlement.Claims{Subject: "dee", ContentID: "rot-off"}), po[0][0].KID), po[0])
	})
}

// TestBoundaryBurst is issue 13's license storm: n viewers, each with its
// own token, ask for the next key period's key in the same second. Every
// answer is the license (with the look-ahead period) or, over the
// configured per-IP rate (all viewers share the loopback address here),
// 429 rate_limited with retryAfter; nothing else.
func TestBoundaryBurst(t *testing.T) {
	t.Parallel()
	const n, burst = 60, 20
	d := newDeployment(t, setup{Edit: func(m map[string]any) {
		m["license"].(map[string]any)["rate_limit"] = map[string]any{"per_ip": 10, "per_ip_burst": burst, "per_user": 10, "per_user_burst": 20}
	}})
	r := d.start(t)
	for n := range uint32(3) {
		if _, err := r.Keys.GetOrCreate(context.Background(), "storm", keys.All, n); err != nil {
			t.Fatal(err)
		}
	}
	p := r.periodKeys(t, "storm")
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = r.token(t, entitlement.Claims{Subject: fmt.Sprintf("viewer-%d", i), ContentID: "storm"})
	}
	// The requests run in their own goroutines; their answers are checked
	// here, in the test's goroutine.
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		answers = make([]response, n)
		errs    = make([]error, n)
		body    = clearKeyRequest(p[1][0].KID)
	)
	for i, tk := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, err := http.NewRequest(http.MethodPost, r.url+"/license/clearkey", bytes.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("Authorization", "Bearer "+tk)
			req.Header.Set("Content-Type", "application/json")
			resp, err := httpClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answers[i], errs[i] = response{status: resp.StatusCode, header: resp.Header, body: b}, err
		}()
	}
	close(start)
	wg.Wait()
	var ok, limited, missingRetry, lookAheadMiss int
	var unexpected []string
	for i, resp := range answers {
		switch {
		case errs[i] != nil:
			unexpected = append(unexpected, errs[i].Error())
		case resp.status == http.StatusOK:
			ok++
			got := licenseKeys(t, resp.body)
			if _, has := got[p[2][0].KID]; !has || string(got[p[1][0].KID]) != string(p[1][0].Key) {
				lookAheadMiss++
			}
		case resp.status == http.StatusTooManyRequests:
			limited++
			if e := resp.errBody(t); e.Code != "rate_limited" || e.RetryAfter < 1 || resp.header.Get("Retry-After") == "" {
				missingRetry++
			}
		default:
			unexpected = append(unexpected, fmt.Sprintf("%d %s", resp.status, resp.body))
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("%d of %d burst requests failed otherwise: %v", len(unexpected), n, unexpected)
	}
	if ok < burst || limited == 0 || ok+limited != n {
		t.Errorf("burst of %d: %d licenses, %d rate-limited; want at least %d licenses (the bucket) and some 429", n, ok, limited, burst)
	}
	if missingRetry > 0 || lookAheadMiss > 0 {
		t.Errorf("%d 429 without rate_limited/retryAfter, %d licenses without period 1's key and the look-ahead key", missingRetry, lookAheadMiss)
	}
}
