package speke

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// FuzzRequestPlan runs SPEKE request planning (planV1, planV2) on any CPIX
// document the safe parser accepts. It never panics and finishes within a
// second; a refusal is a 422 wrapping ErrRequest (so the handler answers
// with the precise reason); an accepted plan gives every ContentKey one
// store slot of a known track type, no two keys the same slot, a period
// that a ContentKeyPeriod@index names (or, for periods given by time
// alone, a rank among them), a content ID and cenc or cbcs. The
// committed corpus (testdata/fuzz/FuzzRequestPlan) holds the request
// fixtures and the negative cases of TestV2Rejects.
func FuzzRequestPlan(f *testing.F) {
	base := fixture(f, "v2_preset_video1_audio1_cbcs.xml")
	for _, name := range []string{"v2_preset_video1_audio1_cbcs.xml", "v2_shared_all_cenc.xml", "v2_negative_shared_video.xml", "v1_live_request.xml"} {
		doc := fixture(f, name)
		f.Add([]byte(doc), true)
		f.Add([]byte(doc), false)
	}
	for _, edit := range [][2]string{
		{`"AUDIO"`, `"VIDEO"`},
		{`"VIDEO"`, `"ALL"`},
		{`periodId="keyPeriod_2a50937e`, `periodId="nope_2a50937e`},
		{"94ce86fb-07ff-4f43-adb8-93d2fa968ca2", "3ea8778f-7742-4bf9-b18b-e834b2acbd47"},
		{`"cbcs"`, `"cenc"`},
	} {
		f.Add([]byte(strings.ReplaceAll(base, edit[0], edit[1])), true)
	}
	// SPEKE v2.1 key rotation: periods with @index and times, and with
	// times only.
	f.Add([]byte(rotationV21), true)
	f.Add([]byte(strings.NewReplacer(` index="5"`, ``, ` index="6"`, ``).Replace(rotationV21)), true)
	f.Fuzz(func(t *testing.T, b []byte, v2 bool) {
		d, err := cpix.UnmarshalLimited(b, cpix.Limits{MaxBytes: 64 << 10})
		if err != nil {
			return
		}
		start := time.Now()
		var p plan
		if v2 {
			p, err = planV2(d, d.Version)
		} else {
			p, err = planV1(d)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("planning took %s", el)
		}
		if err != nil {
			var he *httperr.Error
			if !errors.As(err, &he) || he.Status != http.StatusUnprocessableEntity || !errors.Is(err, ErrRequest) || he.Message == "" {
				t.Fatalf("refusal is not a 422 ErrRequest: %v", err)
			}
			return
		}
		if p.contentID == "" || (p.scheme != cenc.CENC && p.scheme != cenc.CBCS) {
			t.Fatalf("plan without content ID or with scheme %v", p.scheme)
		}
		if v2 && d.Version != cpix.Version23 && d.Version != cpix.Version24 {
			t.Fatalf("v2 plan for CPIX version %q", d.Version)
		}
		if len(p.slots) != len(d.ContentKeys) || len(p.slots) == 0 {
			t.Fatalf("%d slots for %d ContentKeys", len(p.slots), len(d.ContentKeys))
		}
		if p.rotation != (len(d.ContentKeyPeriods) > 0) {
			t.Fatalf("rotation %v with %d periods", p.rotation, len(d.ContentKeyPeriods))
		}
		taken := map[slot]bool{}
		for i, s := range p.slots {
			if taken[s] {
				t.Fatalf("ContentKey %d shares slot %+v", i, s)
			}
			taken[s] = true
			if _, err := keys.ParseTrackType(s.t.String()); err != nil {
				t.Fatalf("slot track type %v: %v", s.t, err)
			}
			if !v2 && s.t != keys.All {
				t.Fatalf("v1 slot of track type %s", s.t)
			}
			switch {
			case p.provisional && int64(s.period) >= int64(len(d.ContentKeyPeriods)):
				t.Fatalf("provisional slot period %d of %d periods", s.period, len(d.ContentKeyPeriods))
			case !p.provisional && s.period != 0 && !periodIndexed(d, s.period):
				t.Fatalf("slot period %d names no ContentKeyPeriod", s.period)
			}
		}
	})
}

func periodIndexed(d *cpix.Document, i uint32) bool {
	for _, p := range d.ContentKeyPeriods {
		if p.Index != nil && *p.Index == i {
			return true
		}
	}
	return false
}
