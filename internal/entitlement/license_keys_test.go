package entitlement_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// keyList is a content key listing held in memory, in the key store's
// order (track type, period).
type keyList struct {
	refs []entitlement.ContentKeyRef
	err  error
}

func (l keyList) ContentKeys(_ context.Context, contentID string) ([]entitlement.ContentKeyRef, error) {
	if l.err != nil {
		return nil, l.err
	}
	var out []entitlement.ContentKeyRef
	for _, r := range l.refs {
		// The store lists one content; a listing that leaks another
		// content's key is what the "foreign" row below stands for.
		if r.ContentID == contentID || r.ContentID == "other" {
			out = append(out, r)
		}
	}
	return out, nil
}

func kid(b byte) drm.KeyID { return drm.KeyID{b, b, b, b} }

func TestLicenseKIDs(t *testing.T) {
	var (
		audio, sd, hd   = kid(1), kid(2), kid(3)
		audio1, sd1     = kid(4), kid(5) // crypto period 1
		revokedInStore  = kid(6)
		revokedOnList   = kid(7)
		foreign         = kid(8)
		perKey, noScope = "per-key", "no-scope"
		requestedOnly   = entitlement.LicenseKeysRequested
		ctx             = context.Background()
		content         = "movie-1"
		listing         = keyList{refs: []entitlement.ContentKeyRef{
			{KID: audio, ContentID: content, TrackType: keys.Audio, Active: true},
			{KID: audio1, ContentID: content, TrackType: keys.Audio, Period: 1, Active: true},
			{KID: sd, ContentID: content, TrackType: keys.SD, Active: true},
			{KID: sd1, ContentID: content, TrackType: keys.SD, Period: 1, Active: true},
			{KID: revokedInStore, ContentID: content, TrackType: keys.SD},
			{KID: hd, ContentID: content, TrackType: keys.HD, Active: true},
			{KID: revokedOnList, ContentID: content, TrackType: keys.HD, Active: true},
			{KID: foreign, ContentID: "other", TrackType: keys.HD, Active: true},
		}}
	)
	policy := entitlement.PolicyConfig{Content: map[string]entitlement.PolicyOverride{perKey: {LicenseKeys: &requestedOnly}}}
	revocations := entitlement.NewMemoryRevocations(nil)
	if err := revocations.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeKID, Value: revokedOnList.String()}); err != nil {
		t.Fatal(err)
	}
	svc := entitlement.New(entitlement.Config{Policy: policy}, entitlement.Deps{Revocations: revocations, ContentKeys: listing})

	dec := func(cid string, edit func(*entitlement.Decision)) entitlement.Decision {
		d := entitlement.Decision{Subject: "u", ContentID: cid, JTI: "j"}
		if edit != nil {
			edit(&d)
		}
		return d
	}
	cases := []struct {
		name      string
		dec       entitlement.Decision
		requested []drm.KeyID
		want      []drm.KeyID
	}{
		{"entitled by default: requested first, then the content's other keys of its period", dec(content, nil), []drm.KeyID{audio}, []drm.KeyID{audio, sd, hd}},
		{"two requested keys keep their order", dec(content, nil), []drm.KeyID{hd, audio}, []drm.KeyID{hd, audio, sd}},
		{"another crypto period", dec(content, nil), []drm.KeyID{sd1}, []drm.KeyID{sd1, audio1}},
		{"token restricted to SD and AUDIO never gets HD", dec(content, func(d *entitlement.Decision) {
			d.TrackTypes = []keys.TrackType{keys.SD, keys.Audio}
		}), []drm.KeyID{audio}, []drm.KeyID{audio, sd}},
		{"token kids claim bounds the extra keys", dec(content, func(d *entitlement.Decision) {
			d.KIDs = []drm.KeyID{audio, hd}
		}), []drm.KeyID{audio}, []drm.KeyID{audio, hd}},
		{"requested scope: exactly the requested keys", dec(perKey, nil), []drm.KeyID{audio}, []drm.KeyID{audio}},
		{"a requested key outside the listing adds nothing", dec(content, nil), []drm.KeyID{kid(99)}, []drm.KeyID{kid(99)}},
		{"no requested key, no extra", dec(content, nil), nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := svc.LicenseKIDs(ctx, c.dec, c.requested)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("LicenseKIDs = %v, want %v", got, c.want)
			}
			for _, k := range got {
				if k == foreign || k == revokedInStore || k == revokedOnList {
					t.Errorf("license would carry %v (another content's or a revoked key)", k)
				}
			}
		})
	}

	t.Run("without a lister the requested keys only", func(t *testing.T) {
		bare := entitlement.New(entitlement.Config{}, entitlement.Deps{})
		got, err := bare.LicenseKIDs(ctx, dec(noScope, nil), []drm.KeyID{audio})
		if err != nil || !slices.Equal(got, []drm.KeyID{audio}) {
			t.Errorf("LicenseKIDs = %v, %v; want [audio]", got, err)
		}
	})

	t.Run("a failing key store is unavailable, not a smaller license", func(t *testing.T) {
		failing := entitlement.New(entitlement.Config{}, entitlement.Deps{ContentKeys: keyList{err: errors.New("db down")}})
		_, err := failing.LicenseKIDs(ctx, dec(content, nil), []drm.KeyID{audio})
		var de *entitlement.DenyError
		if !errors.As(err, &de) || de.Reason != entitlement.ReasonUnavailable {
			t.Errorf("err = %v, want a DenyError with ReasonUnavailable", err)
		}
	})

	t.Run("at most MaxLicenseKeys extra keys", func(t *testing.T) {
		var many keyList
		for i := range entitlement.MaxLicenseKeys + 10 {
			many.refs = append(many.refs, entitlement.ContentKeyRef{KID: drm.KeyID{0xee, byte(i >> 8), byte(i)}, ContentID: content, TrackType: keys.SD, Active: true})
		}
		big := entitlement.New(entitlement.Config{}, entitlement.Deps{ContentKeys: many})
		got, err := big.LicenseKIDs(ctx, dec(content, nil), []drm.KeyID{many.refs[0].KID})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1+entitlement.MaxLicenseKeys {
			t.Errorf("license with %d keys, want the requested one and %d more", len(got), entitlement.MaxLicenseKeys)
		}
	})
}
