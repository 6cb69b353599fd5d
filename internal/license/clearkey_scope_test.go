package license

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// ContentKeys lists the fake store for entitlement's key scope.
func (f *fakeKeys) ContentKeys(_ context.Context, contentID string) ([]entitlement.ContentKeyRef, error) {
	var out []entitlement.ContentKeyRef
	for kid, r := range f.m {
		if r.content == contentID {
			out = append(out, entitlement.ContentKeyRef{KID: kid, ContentID: r.content, TrackType: r.tt, Period: f.periods[kid], Active: !r.revoked})
		}
	}
	slices.SortFunc(out, func(a, b entitlement.ContentKeyRef) int {
		if a.TrackType != b.TrackType {
			return int(a.TrackType) - int(b.TrackType)
		}
		return int(a.Period) - int(b.Period)
	})
	return out, nil
}

// scopeFunc is a KeyScope that adds fixed KIDs, whatever entitlement says.
type scopeFunc func([]drm.KeyID) []drm.KeyID

func (f scopeFunc) LicenseKIDs(_ context.Context, _ entitlement.Decision, requested []drm.KeyID) ([]drm.KeyID, error) {
	return f(requested), nil
}

// licenseKIDs decodes the JWK Set of a 200 answer into its KIDs, in order.
func licenseKIDs(t *testing.T, status int, body []byte) []drm.KeyID {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("status %d %s", status, body)
	}
	var set struct {
		Keys []struct{ Kty, K, KID string } `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	var out []drm.KeyID
	for _, k := range set.Keys {
		b, err := base64.RawURLEncoding.DecodeString(k.KID)
		if err != nil || len(b) != 16 || k.Kty != "oct" || len(k.K) != 22 {
			t.Fatalf("JWK %+v is not a W3C ClearKey key", k)
		}
		out = append(out, drm.KeyID(b))
	}
	return out
}

// scoped is the fixture with entitlement's real key scope over the fake
// store and an in-memory revocation list.
func scoped(t *testing.T, policy entitlement.PolicyConfig) (*ClearKeyHandler, *entitlement.MemoryRevocations) {
	revs := entitlement.NewMemoryRevocations(nil)
	var ks *fakeKeys
	h, _, _ := fixture(t, func(d *ClearKeyDeps) {
		ks = d.Keys.(*fakeKeys)
		d.Scope = entitlement.New(entitlement.Config{Policy: policy}, entitlement.Deps{Revocations: revs, ContentKeys: ks})
	})
	return h, revs
}

func TestLicenseCarriesEntitledKeys(t *testing.T) {
	h, _ := scoped(t, entitlement.PolicyConfig{})
	// The audio key asked for first, then the content's HD key; never the
	// other content's key or the revoked one.
	w := post(h, reqBody("temporary", kidB), bearer("good"))
	if got := licenseKIDs(t, w.Code, w.Body.Bytes()); !slices.Equal(got, []drm.KeyID{kidB, kidA}) {
		t.Errorf("license KIDs %v, want [audio %v, HD %v]", got, kidB, kidA)
	}
	// A token restricted to AUDIO gets the audio key only.
	w = post(h, reqBody("temporary", kidB), bearer("audio"))
	if got := licenseKIDs(t, w.Code, w.Body.Bytes()); !slices.Equal(got, []drm.KeyID{kidB}) {
		t.Errorf("AUDIO-only token: license KIDs %v, want [%v]", got, kidB)
	}

	requested := entitlement.LicenseKeysRequested
	per, _ := scoped(t, entitlement.PolicyConfig{Default: entitlement.ContentPolicy{LicenseKeys: requested}})
	w = post(per, reqBody("temporary", kidB), bearer("good"))
	if got := licenseKIDs(t, w.Code, w.Body.Bytes()); !slices.Equal(got, []drm.KeyID{kidB}) {
		t.Errorf("license_keys requested: KIDs %v, want [%v]", got, kidB)
	}
}

func TestExtraKeysCheckedAgain(t *testing.T) {
	// A scope that adds keys the decision may not release: the handler
	// leaves them out and still answers the requested key.
	h, _, _ := fixture(t, func(d *ClearKeyDeps) {
		d.Scope = scopeFunc(func(req []drm.KeyID) []drm.KeyID { return append(req, kidOther, kidRevoked, kidUnknown, kidA) })
	})
	w := post(h, reqBody("temporary", kidB), bearer("good"))
	if got := licenseKIDs(t, w.Code, w.Body.Bytes()); !slices.Equal(got, []drm.KeyID{kidB, kidA}) {
		t.Errorf("license KIDs %v, want [%v %v]", got, kidB, kidA)
	}
}

func TestCachedLicenseFollowsRevokedKey(t *testing.T) {
	h, revs := scoped(t, entitlement.PolicyConfig{})
	body := reqBody("temporary", kidB)
	w := post(h, body, bearer("good"))
	if got := licenseKIDs(t, w.Code, w.Body.Bytes()); !slices.Equal(got, []drm.KeyID{kidB, kidA}) {
		t.Fatalf("license KIDs %v", got)
	}
	if w = post(h, body, bearer("good")); w.Header().Get(CacheHeader) != "hit" {
		t.Errorf("duplicate not served from the cache")
	}
	// The HD key is revoked: the same request with the same token must not
	// get the cached license that still carries it.
	if err := revs.Revoke(context.Background(), entitlement.Revocation{Kind: entitlement.RevokeKID, Value: kidA.String()}); err != nil {
		t.Fatal(err)
	}
	w = post(h, body, bearer("good"))
	if got := licenseKIDs(t, w.Code, w.Body.Bytes()); !slices.Equal(got, []drm.KeyID{kidB}) {
		t.Errorf("after revoking %v: license KIDs %v (cache %s), want [%v]", kidA, got, w.Header().Get(CacheHeader), kidB)
	}
}

// TestLookAheadLicense: under key rotation with look-ahead 1 a license for
// period 0 also carries period 1's key; the cache never hands out a
// look-ahead key revoked since; a key revoked in the store is refused at
// once and never looked ahead, while the period after it is still served.
func TestLookAheadLicense(t *testing.T) {
	kidP1, kidP2 := drm.KeyID{0x11, 1}, drm.KeyID{0x11, 2}
	revs := entitlement.NewMemoryRevocations(nil)
	var ks *fakeKeys
	h, _, _ := fixture(t, func(d *ClearKeyDeps) {
		ks = d.Keys.(*fakeKeys)
		ks.m[kidP1] = keyRec{keyA, "movie", keys.HD, false}
		ks.m[kidP2] = keyRec{keyB, "movie", keys.HD, false}
		ks.periods = map[drm.KeyID]uint32{kidP1: 1, kidP2: 2}
		d.Scope = entitlement.New(entitlement.Config{LookAhead: 1}, entitlement.Deps{Revocations: revs, ContentKeys: ks})
	})
	body := reqBody("temporary", kidA)
	w := post(h, body, bearer("good"))
	if got := licenseKIDs(t, w.Code, w.Body.Bytes()); !slices.Equal(got, []drm.KeyID{kidA, kidB, kidP1}) {
		t.Fatalf("period 0 license KIDs %v, want [%v %v %v]", got, kidA, kidB, kidP1)
	}
	if w = post(h, body, bearer("good")); w.Header().Get(CacheHeader) != "hit" {
		t.Errorf("duplicate not served from the cache")
	}
	if err := revs.Revoke(context.Background(), entitlement.Revocation{Kind: entitlement.RevokeKID, Value: kidP1.String()}); err != nil {
		t.Fatal(err)
	}
	w = post(h, body, bearer("good"))
	if got := licenseKIDs(t, w.Code, w.Body.Bytes()); !slices.Equal(got, []drm.KeyID{kidA, kidB}) {
		t.Errorf("after revoking %v: license KIDs %v (cache %s), want [%v %v]", kidP1, got, w.Header().Get(CacheHeader), kidA, kidB)
	}

	rec := ks.m[kidP1]
	rec.revoked = true
	ks.m[kidP1] = rec
	if w = post(h, reqBody("temporary", kidP1), bearer("good")); w.Code != http.StatusForbidden {
		t.Errorf("license for the revoked period 1 key: %d, want 403", w.Code)
	}
	w = post(h, reqBody("temporary", kidP2), bearer("good"))
	if got := licenseKIDs(t, w.Code, w.Body.Bytes()); !slices.Equal(got, []drm.KeyID{kidP2}) {
		t.Errorf("period 2 (the last) license KIDs %v, want [%v]", got, kidP2)
	}
}
