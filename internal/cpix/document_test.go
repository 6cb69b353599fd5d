package cpix

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Values from the SPEKE v1 live response of the AWS SPEKE documentation
// (live-workflow-methods).
func TestUnmarshalSPEKEv1DocResponse(t *testing.T) {
	d, err := Unmarshal(readFixture(t, "speke_v1_live_response.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "abc123" || len(d.ContentKeys) != 1 {
		t.Fatalf("id %q, %d keys", d.ID, len(d.ContentKeys))
	}
	k := d.ContentKeys[0]
	if k.KID.String() != "98ee5596-cd3e-a20d-163a-e382420c6eff" {
		t.Errorf("kid %s", k.KID)
	}
	if got := base64.StdEncoding.EncodeToString(k.Value); got != "5dGAgwGuUYu4dHeHtNlxJw==" || len(k.Value) != 16 {
		t.Errorf("PlainValue %s", got)
	}
	if got := base64.StdEncoding.EncodeToString(k.ExplicitIV); got != "OFj2IjCsPJFfMAxmQxLGPw==" {
		t.Errorf("explicitIV %s", got)
	}
	if len(d.DRMSystems) != 2 {
		t.Fatalf("%d DRM systems", len(d.DRMSystems))
	}
	aes := d.DRMSystems[0]
	if aes.URIExtXKey == nil || string(*aes.URIExtXKey) != "https://7k4ytuxq5d.execute-api.us-west-2.amazonaws.com/EkeStage/client/abc123/98ee5596-cd3e-a20d-163a-e382420c6eff" {
		t.Errorf("URIExtXKey %v", aes.URIExtXKey)
	}
	if aes.KeyFormat == nil || string(*aes.KeyFormat) != "identity" || string(*aes.KeyFormatVersions) != "1" {
		t.Errorf("KeyFormat/Versions")
	}
	if fp := d.DRMSystems[1]; fp.SystemID != drm.FairPlaySystemID || string(*fp.KeyFormat) != "com.apple.streamingkeydelivery" {
		t.Errorf("FairPlay system %s keyformat %q", fp.SystemID, *fp.KeyFormat)
	}
	if len(d.ContentKeyPeriods) != 1 || d.ContentKeyPeriods[0].Index == nil || *d.ContentKeyPeriods[0].Index != 1 {
		t.Errorf("periods %+v", d.ContentKeyPeriods)
	}
	if len(d.UsageRules) != 1 || len(d.UsageRules[0].KeyPeriodFilters) != 1 || d.UsageRules[0].KeyPeriodFilters[0].PeriodID != d.ContentKeyPeriods[0].ID {
		t.Errorf("usage rules %+v", d.UsageRules)
	}
}

func TestUnmarshalRequestsKeepEmptyElements(t *testing.T) {
	d, err := Unmarshal(readFixture(t, "speke_v1_live_request.xml"))
	if err != nil {
		t.Fatal(err)
	}
	fp, wv, pr := d.DRMSystems[0], d.DRMSystems[1], d.DRMSystems[2]
	if fp.URIExtXKey == nil || len(*fp.URIExtXKey) != 0 || fp.KeyFormat == nil || fp.PSSH != nil {
		t.Errorf("fairplay request elements: %+v", fp)
	}
	if wv.PSSH == nil || wv.ProtectionHeader != nil {
		t.Errorf("widevine request elements")
	}
	if pr.PSSH == nil || pr.ProtectionHeader == nil {
		t.Errorf("playready request elements")
	}
	v2, err := Unmarshal(readFixture(t, "speke_v2_request.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if v2.ContentID != "test_case_generic" || v2.Version != "2.3" || len(v2.ContentKeys) != 2 || len(v2.DRMSystems) != 6 || len(v2.UsageRules) != 2 {
		t.Fatalf("v2 request: %+v", v2)
	}
	if v2.ContentKeys[0].CommonEncryptionScheme != SchemeCBCS {
		t.Errorf("scheme %q", v2.ContentKeys[0].CommonEncryptionScheme)
	}
	if h := v2.DRMSystems[0].HLSSignalingData; len(h) != 2 || h[0].Playlist != PlaylistMedia || !h[1].Playlist.IsMaster() {
		t.Errorf("HLSSignalingData %+v", h)
	}
	if r := v2.UsageRules[0]; r.IntendedTrackType != "VIDEO" || len(r.VideoFilters) != 1 || len(r.AudioFilters) != 0 {
		t.Errorf("rule %+v", r)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, name := range []string{"speke_v1_live_request.xml", "speke_v1_live_response.xml", "speke_v2_request.xml"} {
		t.Run(name, func(t *testing.T) {
			d, err := Unmarshal(readFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			out, err := Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"<cpix:CPIX ", `xmlns:cpix="urn:dashif:org:cpix"`, "<cpix:ContentKeyList>", "<cpix:DRMSystem "} {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("output lacks %s", want)
				}
			}
			if d2 := remarshal(t, d); !reflect.DeepEqual(d, d2) {
				t.Errorf("round trip differs:\n%+v\n%+v", d, d2)
			}
		})
	}
}

func TestMarshalFilters(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	c := func(v uint32) *uint32 { return &v }
	tr := true
	idx := uint32(7)
	d := &Document{ContentID: "a&b<c>", Version: Version23,
		ContentKeys:       []ContentKey{{KID: drm.KeyID{1}, CommonEncryptionScheme: SchemeCENC, ExplicitIV: bytes.Repeat([]byte{9}, 16)}},
		ContentKeyPeriods: []ContentKeyPeriod{{ID: "p7", Index: &idx, Start: "2026-01-01T00:00:00Z"}},
		UsageRules: []ContentKeyUsageRule{{KID: drm.KeyID{1}, IntendedTrackType: "SD",
			KeyPeriodFilters: []KeyPeriodFilter{{PeriodID: "p7"}},
			VideoFilters:     []VideoFilter{{MinPixels: u(1), MaxPixels: u(589824), HDR: &tr, MaxFPS: c(60)}},
			AudioFilters:     []AudioFilter{{MinChannels: c(3)}},
			BitrateFilters:   []BitrateFilter{{MaxBitrate: u(5000000)}},
			LabelFilters:     []LabelFilter{{Label: "x"}}}},
	}
	if d2 := remarshal(t, d); !reflect.DeepEqual(d, d2) {
		t.Errorf("round trip differs:\n%+v\n%+v", d, d2)
	}
}

// The shared case table of malformed and unsafe documents: unit tests use
// it here and the fuzz corpus seeds from it.
var badDocs = []struct {
	name, doc string
	err       error
	mention   string
}{
	{"empty", ``, ErrInvalid, "empty"},
	{"wrong root", `<CPIX xmlns="urn:other"/>`, ErrInvalid, "root element"},
	{"xxe", `<?xml version="1.0"?><!DOCTYPE cpix [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" contentId="&xxe;"/>`, ErrUnsafe, "DOCTYPE"},
	{"billion laughs", `<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><cpix:CPIX xmlns:cpix="urn:dashif:org:cpix">&b;</cpix:CPIX>`, ErrUnsafe, "DOCTYPE"},
	{"undefined entity", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" contentId="&xxe;"/>`, ErrInvalid, "syntax"},
	{"processing instruction", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><?php x?></cpix:CPIX>`, ErrUnsafe, "processing instruction"},
	{"depth bomb", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix">` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</cpix:CPIX>`, ErrUnsafe, "deeper than 32"},
	{"missing kid", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyList><cpix:ContentKey/></cpix:ContentKeyList></cpix:CPIX>`, ErrInvalid, "ContentKeyList/ContentKey[1] (line 1): missing @kid"},
	{"bad kid", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyList><cpix:ContentKey kid="zz"/></cpix:ContentKeyList></cpix:CPIX>`, ErrInvalid, `@kid "zz" is not a UUID`},
	{"bad scheme", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyList><cpix:ContentKey kid="0f083e4e-b831-4a3d-917e-ce78076e54aa" commonEncryptionScheme="ctr"/></cpix:ContentKeyList></cpix:CPIX>`, ErrInvalid, "@commonEncryptionScheme"},
	{"bad iv", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyList><cpix:ContentKey kid="0f083e4e-b831-4a3d-917e-ce78076e54aa" explicitIV="AAAA"/></cpix:ContentKeyList></cpix:CPIX>`, ErrInvalid, "@explicitIV"},
	{"missing systemId", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:DRMSystemList><cpix:DRMSystem kid="0f083e4e-b831-4a3d-917e-ce78076e54aa"/></cpix:DRMSystemList></cpix:CPIX>`, ErrInvalid, "DRMSystem[1] (line 1): missing @systemId"},
	{"bad base64", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:DRMSystemList><cpix:DRMSystem kid="0f083e4e-b831-4a3d-917e-ce78076e54aa" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"><cpix:PSSH>!!secret!!</cpix:PSSH></cpix:DRMSystem></cpix:DRMSystemList></cpix:CPIX>`, ErrInvalid, "DRMSystem[1]/PSSH"},
	{"two lists", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyList/><cpix:ContentKeyList/></cpix:CPIX>`, ErrInvalid, "more than one ContentKeyList"},
	{"bad playlist", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:DRMSystemList><cpix:DRMSystem kid="0f083e4e-b831-4a3d-917e-ce78076e54aa" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"><cpix:HLSSignalingData playlist="x"/></cpix:DRMSystem></cpix:DRMSystemList></cpix:CPIX>`, ErrInvalid, "@playlist"},
	{"bad index", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyPeriodList><cpix:ContentKeyPeriod id="p" index="-1"/></cpix:ContentKeyPeriodList></cpix:CPIX>`, ErrInvalid, "@index"},
	{"pixel range", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid="0f083e4e-b831-4a3d-917e-ce78076e54aa"><cpix:VideoFilter minPixels="10" maxPixels="1"/></cpix:ContentKeyUsageRule></cpix:ContentKeyUsageRuleList></cpix:CPIX>`, ErrInvalid, "@minPixels 10 > @maxPixels 1"},
	{"hdr not a boolean", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid="0f083e4e-b831-4a3d-917e-ce78076e54aa"><cpix:VideoFilter minPixels="1" hdr="maybe" minFps="x"/></cpix:ContentKeyUsageRule></cpix:ContentKeyUsageRuleList></cpix:CPIX>`, ErrInvalid, `@hdr "maybe" is not an xs:boolean`},
	{"fps past 32 bits", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid="0f083e4e-b831-4a3d-917e-ce78076e54aa"><cpix:VideoFilter minFps="99999999999"/></cpix:ContentKeyUsageRule></cpix:ContentKeyUsageRuleList></cpix:CPIX>`, ErrInvalid, `@minFps "99999999999" is not an unsigned 32-bit integer`},
	{"channel range", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid="0f083e4e-b831-4a3d-917e-ce78076e54aa"><cpix:AudioFilter minChannels="3" maxChannels="2"/></cpix:ContentKeyUsageRule></cpix:ContentKeyUsageRuleList></cpix:CPIX>`, ErrInvalid, `@minChannels 3 > @maxChannels 2`},
	{"bitrate not a number", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"><cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid="0f083e4e-b831-4a3d-917e-ce78076e54aa"><cpix:BitrateFilter minBitrate="5" maxBitrate="z"/></cpix:ContentKeyUsageRule></cpix:ContentKeyUsageRuleList></cpix:CPIX>`, ErrInvalid, `@maxBitrate "z" is not an unsigned integer`},
	{"two roots", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"/><cpix:CPIX xmlns:cpix="urn:dashif:org:cpix"/>`, ErrInvalid, ""},
}

func TestUnmarshalRejects(t *testing.T) {
	for _, c := range badDocs {
		t.Run(c.name, func(t *testing.T) {
			d, err := Unmarshal([]byte(c.doc))
			if !errors.Is(err, c.err) {
				t.Fatalf("got %v (doc %+v), want %v", err, d, c.err)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error echoes element content: %v", err)
			}
		})
	}
}

func TestUnmarshalLimits(t *testing.T) {
	doc := readFixture(t, "speke_v2_request.xml")
	if _, err := UnmarshalLimited(doc, Limits{MaxBytes: int64(len(doc) - 1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("size limit: %v", err)
	}
	if _, err := UnmarshalLimited(doc, Limits{MaxBytes: int64(len(doc))}); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
	if _, err := UnmarshalLimited(doc, Limits{MaxElements: 10}); !errors.Is(err, ErrUnsafe) {
		t.Errorf("element limit: %v", err)
	}
	if _, err := UnmarshalLimited(doc, Limits{MaxDepth: 3}); !errors.Is(err, ErrUnsafe) {
		t.Errorf("depth limit: %v", err)
	}
}

func TestContentKeyStringHidesKey(t *testing.T) {
	k := ContentKey{KID: drm.KeyID{1}, Value: []byte("0123456789abcdef")}
	for _, s := range []string{k.String(), k.GoString()} {
		if strings.Contains(s, "0123456789abcdef") {
			t.Errorf("key printed: %s", s)
		}
	}
}
