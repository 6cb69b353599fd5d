package entitlement_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

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

// periodTimes is a content's recorded key period times held in memory.
type periodTimes []keys.PeriodTimes

func (p periodTimes) ListPeriodTimes(context.Context, string) ([]keys.PeriodTimes, error) {
	return p, nil
}

// TestLicenseKIDsLookAhead: a license for period p's key also carries the
// keys of p+1 .. p+LookAhead while the token is valid past their start, each
// one only if Decision.MayRelease and the revocation list allow it.
func TestLicenseKIDsLookAhead(t *testing.T) {
	var (
		ctx                         = context.Background()
		now                         = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		vod, vodTimes, live, perKey = "vod", "vod-times", "live", "per-key"
		a0, a1, a2, a3              = kid(0x10), kid(0x11), kid(0x12), kid(0x13)
		s0, s1, s2                  = kid(0x20), kid(0x21), kid(0x22)
		revokedInStore              = kid(0x30) // audio, period 1 of "revoked"
		revokedOnList               = kid(0x31) // sd, period 1 of "revoked"
		requestedOnly               = entitlement.LicenseKeysRequested
		noAhead, zero               = "no-ahead", 0
	)
	rotated := func(cid string) []entitlement.ContentKeyRef {
		return []entitlement.ContentKeyRef{
			{KID: a0, ContentID: cid, TrackType: keys.Audio, Period: 0, Active: true},
			{KID: a1, ContentID: cid, TrackType: keys.Audio, Period: 1, Active: true},
			{KID: a2, ContentID: cid, TrackType: keys.Audio, Period: 2, Active: true},
			{KID: a3, ContentID: cid, TrackType: keys.Audio, Period: 3, Active: true},
			{KID: s0, ContentID: cid, TrackType: keys.SD, Period: 0, Active: true},
			{KID: s1, ContentID: cid, TrackType: keys.SD, Period: 1, Active: true},
			{KID: s2, ContentID: cid, TrackType: keys.SD, Period: 2, Active: true},
		}
	}
	// One lister per content: keyList filters by content ID.
	var refs []entitlement.ContentKeyRef
	for _, cid := range []string{vod, vodTimes, live, perKey, noAhead} {
		for _, r := range rotated(cid) {
			r.KID[15] = byte(len(cid)) // KIDs are unique across the store
			refs = append(refs, r)
		}
	}
	refs = append(refs,
		entitlement.ContentKeyRef{KID: a0, ContentID: "revoked", TrackType: keys.Audio, Period: 0, Active: true},
		entitlement.ContentKeyRef{KID: revokedInStore, ContentID: "revoked", TrackType: keys.Audio, Period: 1},
		entitlement.ContentKeyRef{KID: s0, ContentID: "revoked", TrackType: keys.SD, Period: 0, Active: true},
		entitlement.ContentKeyRef{KID: revokedOnList, ContentID: "revoked", TrackType: keys.SD, Period: 1, Active: true},
		entitlement.ContentKeyRef{KID: s2, ContentID: "revoked", TrackType: keys.SD, Period: 2, Active: true},
	)
	k := func(cid string, b drm.KeyID) drm.KeyID {
		b[15] = byte(len(cid))
		return b
	}
	times := map[string]periodTimes{
		// VOD: 10 s of media time per period.
		vodTimes: {{Period: 0, End: 10 * time.Second}, {Period: 1, Start: 10 * time.Second, End: 20 * time.Second}, {Period: 2, Start: 20 * time.Second, End: 30 * time.Second}},
		// Live: period 1 starts 30 s from now, period 2 90 s from now.
		live: {
			{Period: 0, WallClock: true, Start: now.Add(-30 * time.Second).Sub(time.Unix(0, 0)), End: now.Add(30 * time.Second).Sub(time.Unix(0, 0))},
			{Period: 1, WallClock: true, Start: now.Add(30 * time.Second).Sub(time.Unix(0, 0)), End: now.Add(90 * time.Second).Sub(time.Unix(0, 0))},
			{Period: 2, WallClock: true, Start: now.Add(90 * time.Second).Sub(time.Unix(0, 0)), End: now.Add(150 * time.Second).Sub(time.Unix(0, 0))},
		},
	}
	revocations := entitlement.NewMemoryRevocations(nil)
	if err := revocations.Revoke(ctx, entitlement.Revocation{Kind: entitlement.RevokeKID, Value: revokedOnList.String()}); err != nil {
		t.Fatal(err)
	}
	policy := entitlement.PolicyConfig{Content: map[string]entitlement.PolicyOverride{perKey: {LicenseKeys: &requestedOnly}, noAhead: {LookAhead: &zero}}}
	svc := func(window int, cid string) *entitlement.Service {
		return entitlement.New(entitlement.Config{Policy: policy, LookAhead: window}, entitlement.Deps{
			Revocations: revocations, ContentKeys: keyList{refs: refs}, PeriodTimes: times[cid], Clock: func() time.Time { return now },
		})
	}
	dec := func(cid string, exp time.Duration, edit func(*entitlement.Decision)) entitlement.Decision {
		d := entitlement.Decision{Subject: "u", ContentID: cid, JTI: "j", TokenExpiry: now.Add(exp)}
		if edit != nil {
			edit(&d)
		}
		return d
	}
	hour := time.Hour
	cases := []struct {
		name      string
		window    int
		dec       entitlement.Decision
		requested []drm.KeyID
		want      []drm.KeyID
	}{
		{"off: the requested period only", 0, dec(vod, hour, nil), []drm.KeyID{k(vod, a0)}, []drm.KeyID{k(vod, a0), k(vod, s0)}},
		{"window 1: the next period's keys after the current period's", 1, dec(vod, hour, nil), []drm.KeyID{k(vod, a0)},
			[]drm.KeyID{k(vod, a0), k(vod, s0), k(vod, a1), k(vod, s1)}},
		{"window 2", 2, dec(vod, hour, nil), []drm.KeyID{k(vod, s1)},
			[]drm.KeyID{k(vod, s1), k(vod, a1), k(vod, a2), k(vod, a3), k(vod, s2)}},
		{"a content's policy turns look-ahead off", 1, dec(noAhead, hour, nil), []drm.KeyID{k(noAhead, a0)}, []drm.KeyID{k(noAhead, a0), k(noAhead, s0)}},
		{"the last period has nothing ahead", 1, dec(vod, hour, nil), []drm.KeyID{k(vod, a3)}, []drm.KeyID{k(vod, a3)}},
		{"requested scope: the next key of the requested slot only", 1, dec(perKey, hour, nil), []drm.KeyID{k(perKey, s0)},
			[]drm.KeyID{k(perKey, s0), k(perKey, s1)}},
		{"token kids claim: a next key outside it is not added", 1, dec(vod, hour, func(d *entitlement.Decision) {
			d.KIDs = []drm.KeyID{k(vod, a0), k(vod, s0), k(vod, s1)}
		}), []drm.KeyID{k(vod, a0)}, []drm.KeyID{k(vod, a0), k(vod, s0), k(vod, s1)}},
		{"token tt claim bounds the next period too", 1, dec(vod, hour, func(d *entitlement.Decision) {
			d.TrackTypes = []keys.TrackType{keys.Audio}
		}), []drm.KeyID{k(vod, a0)}, []drm.KeyID{k(vod, a0), k(vod, a1)}},
		{"revoked keys (in the store, on the list) are never looked ahead; the period after still is", 2, dec("revoked", hour, nil), []drm.KeyID{a0},
			[]drm.KeyID{a0, s0, s2}},
		{"VOD times: token outlasting the current period gets the next", 2, dec(vodTimes, 15*time.Second, nil), []drm.KeyID{k(vodTimes, a0)},
			[]drm.KeyID{k(vodTimes, a0), k(vodTimes, s0), k(vodTimes, a1), k(vodTimes, s1)}},
		{"VOD times: token ending within the current period gets none", 2, dec(vodTimes, 5*time.Second, nil), []drm.KeyID{k(vodTimes, a0)},
			[]drm.KeyID{k(vodTimes, a0), k(vodTimes, s0)}},
		{"VOD times: license duration bounds like the token", 2, dec(vodTimes, hour, func(d *entitlement.Decision) {
			d.Policy.LicenseDuration = 5 * time.Second
		}), []drm.KeyID{k(vodTimes, a0)}, []drm.KeyID{k(vodTimes, a0), k(vodTimes, s0)}},
		{"live: token valid past period 1's start only", 2, dec(live, time.Minute, nil), []drm.KeyID{k(live, a0)},
			[]drm.KeyID{k(live, a0), k(live, s0), k(live, a1), k(live, s1)}},
		{"live: token ending before the boundary gets none", 2, dec(live, 20*time.Second, nil), []drm.KeyID{k(live, a0)},
			[]drm.KeyID{k(live, a0), k(live, s0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := svc(c.window, c.dec.ContentID).LicenseKIDs(ctx, c.dec, c.requested)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("LicenseKIDs = %v, want %v", got, c.want)
			}
			for _, g := range got {
				if g == revokedInStore || g == revokedOnList {
					t.Errorf("license would carry revoked key %v", g)
				}
			}
		})
	}
}
