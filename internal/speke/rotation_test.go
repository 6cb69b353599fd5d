package speke

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// rotationV21 is a SPEKE v2.1 (CPIX 2.4) key rotation request for two
// periods with @index and @start/@end, video and audio keys in each
// (AWS SPEKE v2.1 "Standard payload components"; MediaPackage
// ContentKeyPeriodTiming INDEX_WITH_START_END).
const rotationV21 = `<cpix:CPIX contentId="live-rot" version="2.4" xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">
  <cpix:ContentKeyList>
    <cpix:ContentKey kid="11111111-0000-4000-8000-000000000001" commonEncryptionScheme="cenc"/>
    <cpix:ContentKey kid="11111111-0000-4000-8000-000000000002" commonEncryptionScheme="cenc"/>
    <cpix:ContentKey kid="11111111-0000-4000-8000-000000000003" commonEncryptionScheme="cenc"/>
    <cpix:ContentKey kid="11111111-0000-4000-8000-000000000004" commonEncryptionScheme="cenc"/>
  </cpix:ContentKeyList>
  <cpix:DRMSystemList>
    <cpix:DRMSystem kid="11111111-0000-4000-8000-000000000001" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"><cpix:PSSH/></cpix:DRMSystem>
    <cpix:DRMSystem kid="11111111-0000-4000-8000-000000000003" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"><cpix:PSSH/></cpix:DRMSystem>
  </cpix:DRMSystemList>
  <cpix:ContentKeyPeriodList>
    <cpix:ContentKeyPeriod id="kp_5" index="5" start="2026-03-01T10:00:00Z" end="2026-03-01T10:00:30Z"/>
    <cpix:ContentKeyPeriod id="kp_6" index="6" start="2026-03-01T10:00:30Z" end="2026-03-01T10:01:00Z"/>
  </cpix:ContentKeyPeriodList>
  <cpix:ContentKeyUsageRuleList>
    <cpix:ContentKeyUsageRule kid="11111111-0000-4000-8000-000000000001" intendedTrackType="VIDEO"><cpix:KeyPeriodFilter periodId="kp_5"/><cpix:VideoFilter/></cpix:ContentKeyUsageRule>
    <cpix:ContentKeyUsageRule kid="11111111-0000-4000-8000-000000000002" intendedTrackType="AUDIO"><cpix:KeyPeriodFilter periodId="kp_5"/><cpix:AudioFilter/></cpix:ContentKeyUsageRule>
    <cpix:ContentKeyUsageRule kid="11111111-0000-4000-8000-000000000003" intendedTrackType="VIDEO"><cpix:KeyPeriodFilter periodId="kp_6"/><cpix:VideoFilter/></cpix:ContentKeyUsageRule>
    <cpix:ContentKeyUsageRule kid="11111111-0000-4000-8000-000000000004" intendedTrackType="AUDIO"><cpix:KeyPeriodFilter periodId="kp_6"/><cpix:AudioFilter/></cpix:ContentKeyUsageRule>
  </cpix:ContentKeyUsageRuleList>
</cpix:CPIX>`

func postVersion(t testing.TB, h http.Handler, target, body, version string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/xml")
	r.Header.Set(HeaderVersion, version)
	r.Header.Set("Authorization", "Bearer "+goodToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRotationRequestsRefusedPrecisely(t *testing.T) {
	many := func() string {
		var b strings.Builder
		for i := range MaxKeyPeriods + 1 {
			fmt.Fprintf(&b, `<cpix:ContentKeyPeriod id="m%d" index="%d"/>`, i, 100+i)
		}
		return strings.Replace(rotationV21, `<cpix:ContentKeyPeriodList>`, `<cpix:ContentKeyPeriodList>`+b.String(), 1)
	}
	cases := []struct {
		name, body, version, msg string
	}{
		{"unknown period in filter", strings.Replace(rotationV21, `<cpix:KeyPeriodFilter periodId="kp_6"/><cpix:AudioFilter/>`, `<cpix:KeyPeriodFilter periodId="kp_7"/><cpix:AudioFilter/>`, 1), Version21,
			`KeyPeriodFilter@periodId "kp_7" names no ContentKeyPeriod`},
		{"overlapping periods", strings.Replace(rotationV21, `start="2026-03-01T10:00:30Z"`, `start="2026-03-01T10:00:20Z"`, 1), Version21,
			`ContentKeyPeriods "kp_5" and "kp_6" overlap`},
		{"overlapping offsets", strings.NewReplacer(`start="2026-03-01T10:00:00Z" end="2026-03-01T10:00:30Z"`, `startOffset="PT0S" duration="PT30S"`,
			`start="2026-03-01T10:00:30Z" end="2026-03-01T10:01:00Z"`, `startOffset="PT29.5S" endOffset="PT60S"`).Replace(rotationV21), Version21,
			`ContentKeyPeriods "kp_5" and "kp_6" overlap`},
		{"too many periods", many(), Version21, fmt.Sprintf("ContentKeyPeriodList has %d ContentKeyPeriod elements; at most %d", MaxKeyPeriods+3, MaxKeyPeriods)},
		{"same index", strings.Replace(rotationV21, `index="6"`, `index="5"`, 1), Version21, `ContentKeyPeriods "kp_5" and "kp_6" have the same @index 5`},
		{"one index missing", strings.Replace(rotationV21, ` index="6"`, ``, 1), Version21, `ContentKeyPeriods "kp_5" and "kp_6": either every ContentKeyPeriod has @index or none`},
		{"no index in v2.0", strings.NewReplacer(` index="6"`, ``, `version="2.4"`, `version="2.3"`).Replace(rotationV21), Version2, `Missing ContentKeyPeriod@index for period "kp_6"`},
		{"neither index nor times", strings.NewReplacer(` index="5"`, ``, ` index="6"`, ``, ` start="2026-03-01T10:00:30Z" end="2026-03-01T10:01:00Z"`, ``).Replace(rotationV21), Version21,
			`ContentKeyPeriod "kp_6" has neither @index nor times`},
		{"no id", strings.Replace(rotationV21, `id="kp_6" `, ``, 1), Version21, `Missing ContentKeyPeriod@id`},
		{"duplicate id", strings.Replace(rotationV21, `id="kp_6"`, `id="kp_5"`, 1), Version21, `ContentKeyPeriod@id "kp_5" appears more than once`},
		{"index against time", strings.NewReplacer(`index="5"`, `index="7"`).Replace(rotationV21), Version21, `@index must increase with time`},
		{"end before start", strings.Replace(rotationV21, `end="2026-03-01T10:01:00Z"`, `end="2026-03-01T10:00:10Z"`, 1), Version21, `ContentKeyPeriod "kp_6": ends at or before its start`},
		{"start without end", strings.Replace(rotationV21, ` end="2026-03-01T10:01:00Z"`, ``, 1), Version21, `ContentKeyPeriod "kp_6": a start without @end`},
		{"bad dateTime", strings.Replace(rotationV21, `start="2026-03-01T10:00:30Z"`, `start="tomorrow"`, 1), Version21, `ContentKeyPeriod "kp_6": @start "tomorrow"`},
		{"mixed forms", strings.Replace(rotationV21, `start="2026-03-01T10:00:30Z" end="2026-03-01T10:01:00Z"`, `startOffset="PT30S" endOffset="PT60S"`, 1), Version21,
			`mix wall-clock (@start) and media-time (@startOffset) periods`},
		{"rule without filter", strings.Replace(rotationV21, `<cpix:KeyPeriodFilter periodId="kp_6"/><cpix:AudioFilter/>`, `<cpix:AudioFilter/>`, 1), Version21,
			`ContentKeyUsageRule for KID 11111111-0000-4000-8000-000000000004 has no KeyPeriodFilter`},
		{"two filters", strings.Replace(rotationV21, `<cpix:KeyPeriodFilter periodId="kp_6"/><cpix:AudioFilter/>`, `<cpix:KeyPeriodFilter periodId="kp_5"/><cpix:KeyPeriodFilter periodId="kp_6"/><cpix:AudioFilter/>`, 1), Version21,
			`has 2 KeyPeriodFilters`},
		{"CPIX 2.3 with SPEKE 2.1", strings.Replace(rotationV21, `version="2.4"`, `version="2.3"`, 1), Version21, `Unsupported CPIX@version "2.3" (SPEKE 2.1 uses 2.4)`},
		{"CPIX 2.4 with SPEKE 2.0", rotationV21, Version2, `Unsupported CPIX@version "2.4" (SPEKE 2.0 uses 2.3)`},
		{"SPEKE 2.2", rotationV21, "2.2", `Unsupported SPEKE version`},
	}
	e := newEnv(t, testConfig())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := postVersion(t, e.h, PathV2+"?"+QueryOverrideKeyIDs+"=true", c.body, c.version)
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", w.Code, w.Body.String())
			}
			if b := errBody(t, w); b.Code != httperr.CodeInvalidRequest || !strings.Contains(b.Message, c.msg) {
				t.Errorf("message %q, want it to contain %q", b.Message, c.msg)
			}
		})
	}
	if n := e.keys.calls.Load(); n != 0 {
		t.Errorf("refused requests touched the key store %d times", n)
	}
}

// TestRotationV21StoreKIDs: a SPEKE v2.1 rotation request with
// overrideKeyIds=true gets the store's slot key of (content, track type,
// period index) for every ContentKey, under the slot key's KID, with the
// periods echoed as sent; the same request again gets the same KIDs, and
// the two periods' KIDs differ.
func TestRotationV21StoreKIDs(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	var first map[string]drm.KeyID
	for run := range 2 {
		w := postVersion(t, e.h, PathV2+"?"+QueryOverrideKeyIDs+"=true", rotationV21, Version21)
		d := okDoc(t, w)
		if v := w.Header().Get(HeaderVersion); v != Version21 {
			t.Errorf("X-Speke-Version %q, want the request's 2.1", v)
		}
		if len(d.ContentKeyPeriods) != 2 || d.ContentKeyPeriods[1].Start != "2026-03-01T10:00:30Z" || d.ContentKeyPeriods[1].End != "2026-03-01T10:01:00Z" {
			t.Errorf("periods not echoed: %+v", d.ContentKeyPeriods)
		}
		got := map[string]drm.KeyID{}
		for _, r := range d.UsageRules {
			slotName := r.IntendedTrackType + "/" + r.KeyPeriodFilters[0].PeriodID
			got[slotName] = r.KID
			tt := keys.All
			if r.IntendedTrackType == "AUDIO" {
				tt = keys.Audio
			}
			period := uint32(5)
			if r.KeyPeriodFilters[0].PeriodID == "kp_6" {
				period = 6
			}
			want, err := e.store.GetOrCreate(ctx, "live-rot", tt, period)
			if err != nil {
				t.Fatal(err)
			}
			if r.KID != want.KID {
				t.Errorf("%s: KID %s, want the store slot key's %s", slotName, r.KID, want.KID)
			}
			if i := d.ContentKeyByKID(r.KID); i < 0 || string(d.ContentKeys[i].Value) != string(want.Key) {
				t.Errorf("%s: ContentKey missing or not the slot key", slotName)
			}
		}
		for _, s := range d.DRMSystems {
			if d.ContentKeyByKID(s.KID) < 0 || s.PSSH == nil || len(*s.PSSH) == 0 {
				t.Errorf("DRMSystem %s not moved to its key's KID or empty", s.KID)
			}
		}
		if got["VIDEO/kp_5"] == got["VIDEO/kp_6"] || got["AUDIO/kp_5"] == got["AUDIO/kp_6"] {
			t.Errorf("consecutive periods share a KID: %v", got)
		}
		if run == 0 {
			first = got
		} else if fmt.Sprint(first) != fmt.Sprint(got) {
			t.Errorf("second request got other KIDs: %v, then %v", first, got)
		}
	}
	// The store knows each period's time, and refuses a request that
	// contradicts it, before touching any key.
	times, err := e.store.ListPeriodTimes(ctx, "live-rot")
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 || times[1].Period != 6 || !times[1].WallClock || times[1].End-times[1].Start != 30*time.Second ||
		cpix.FormatDateTime(times[0].Start) != "2026-03-01T10:00:00Z" {
		t.Errorf("recorded period times %+v", times)
	}
	calls := e.keys.calls.Load()
	moved := strings.Replace(rotationV21, `start="2026-03-01T10:00:30Z" end="2026-03-01T10:01:00Z"`, `start="2026-03-01T10:00:40Z" end="2026-03-01T10:01:10Z"`, 1)
	w := postVersion(t, e.h, PathV2+"?"+QueryOverrideKeyIDs+"=true", moved, Version21)
	if b := errBody(t, w); w.Code != http.StatusConflict || !strings.Contains(b.Message, `ContentKeyPeriod "kp_6" contradicts the key periods recorded`) {
		t.Errorf("moved period 6: %d %+v", w.Code, b)
	}
	if e.keys.calls.Load() != calls {
		t.Error("a request with contradicting period times touched keys")
	}
	// Without overrideKeyIds the encryptor's KIDs are honoured.
	d := okDoc(t, postVersion(t, e.h, PathV2, strings.ReplaceAll(rotationV21, "live-rot", "live-rot-2"), Version21))
	if d.ContentKeys[0].KID.String() != "11111111-0000-4000-8000-000000000001" {
		t.Errorf("requested KID not honoured: %s", d.ContentKeys[0].KID)
	}
	if k, err := e.store.GetByContent(ctx, "live-rot-2", d.ContentKeys[2].KID); err != nil || k.Period != 6 || k.Origin != keys.OriginKID {
		t.Errorf("KID-addressed key of period 6: %v, %v", k, err)
	}
}

// TestRotationV21TimesOnly: periods with @start/@end and no @index
// (MediaPackage START_END_ONLY) get the store's index for their times,
// echoed as @index: a fresh content's first periods 0 and 1, the same times
// again the same indexes and keys, later times the next index, and times
// before the last recorded period a 409.
func TestRotationV21TimesOnly(t *testing.T) {
	e := newEnv(t, testConfig())
	timesOnly := strings.NewReplacer(` index="5"`, ``, ` index="6"`, ``).Replace(rotationV21)
	target := PathV2 + "?" + QueryOverrideKeyIDs + "=true"
	indexes := func(body string) (map[string]uint32, map[string]drm.KeyID) {
		t.Helper()
		d := okDoc(t, postVersion(t, e.h, target, body, Version21))
		idx := map[string]uint32{}
		for _, p := range d.ContentKeyPeriods {
			if p.Index == nil {
				t.Fatalf("period %q echoed without the index it was given", p.ID)
			}
			idx[p.ID] = *p.Index
		}
		kids := map[string]drm.KeyID{}
		for _, r := range d.UsageRules {
			kids[r.IntendedTrackType+"/"+r.KeyPeriodFilters[0].PeriodID] = r.KID
		}
		return idx, kids
	}
	idx, kids := indexes(timesOnly)
	if idx["kp_5"] != 0 || idx["kp_6"] != 1 {
		t.Errorf("indexes %v, want kp_5 0 and kp_6 1", idx)
	}
	slot1, err := e.store.GetOrCreate(context.Background(), "live-rot", keys.Audio, 1)
	if err != nil {
		t.Fatal(err)
	}
	if kids["AUDIO/kp_6"] != slot1.KID {
		t.Errorf("AUDIO of kp_6: KID %s, want the slot key of period 1 %s", kids["AUDIO/kp_6"], slot1.KID)
	}
	idx2, kids2 := indexes(timesOnly)
	if fmt.Sprint(idx2, kids2) != fmt.Sprint(idx, kids) {
		t.Errorf("same times again: %v %v, first %v %v", idx2, kids2, idx, kids)
	}
	later := strings.NewReplacer("10:00:30Z", "10:01:30Z", "10:00:00Z", "10:01:00Z", "10:01:00Z", "10:02:00Z").Replace(timesOnly)
	if idx3, _ := indexes(later); idx3["kp_5"] != 2 || idx3["kp_6"] != 3 {
		t.Errorf("later periods got %v, want 2 and 3", idx3)
	}
	earlier := strings.NewReplacer("10:00:30Z", "09:59:30Z", "10:00:00Z", "09:59:00Z", "10:01:00Z", "10:00:00Z").Replace(timesOnly)
	w := postVersion(t, e.h, target, earlier, Version21)
	if b := errBody(t, w); w.Code != http.StatusConflict || !strings.Contains(b.Message, `ContentKeyPeriod "kp_5" contradicts the key periods recorded for this content`) {
		t.Errorf("periods before the recorded ones: %d %+v", w.Code, b)
	}
}
