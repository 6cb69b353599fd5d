package signaling

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/drm/widevine"
)

// Synthetic KID and key (not from a published vector; only their flow through the formats matters).
var (
	testKID = drm.KeyID{0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b}
	testKey = []byte("0123456789abcdef")
)

func params(scheme cenc.Scheme) Params {
	return Params{
		Scheme: scheme, KID: testKID, Key: testKey, Systems: drm.AllSystems,
		WidevineProvider: "drmpipe", WidevineContentID: "movie",
		PlayReadyLAURL: "https://pr.example/?a=1&b=2", ClearKeyLAURL: "https://ck.example/license",
		FairPlayKeyURI: "skd://fps.example/{kid}",
	}
}

func mustBuild(t *testing.T, p Params) Set {
	t.Helper()
	s, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBuild(t *testing.T) {
	for _, c := range []struct {
		scheme  cenc.Scheme
		systems []drm.System
		wvPS    uint32
		prVer   string
	}{
		{cenc.CBCS, drm.AllSystems, widevine.SchemeCBCS, playready.Version43},
		// FairPlay is cbcs-only: a cenc set leaves it out.
		{cenc.CENC, []drm.System{drm.Widevine, drm.PlayReady, drm.ClearKey}, widevine.SchemeCENC, playready.Version40},
	} {
		t.Run(c.scheme.String(), func(t *testing.T) {
			s := mustBuild(t, params(c.scheme))
			var got []drm.System
			for _, x := range s.Systems {
				got = append(got, x.System)
			}
			if len(got) != len(c.systems) {
				t.Fatalf("systems %v, want %v", got, c.systems)
			}
			wv, _ := s.System(drm.Widevine)
			box, err := drm.UnmarshalPSSH(wv.PSSH)
			if err != nil {
				t.Fatal(err)
			}
			d, err := widevine.UnmarshalPsshData(box.Data)
			if err != nil {
				t.Fatal(err)
			}
			if d.ProtectionScheme != c.wvPS || d.Provider != "drmpipe" || string(d.ContentID) != "movie" || d.KeyIDs[0] != testKID || d.CryptoPeriodIndex != nil {
				t.Errorf("widevine pssh data %+v", d)
			}
			pr, _ := s.System(drm.PlayReady)
			h, err := playready.UnmarshalPRO(pr.PRO)
			if err != nil {
				t.Fatal(err)
			}
			if h.Version != c.prVer || h.LAURL != "https://pr.example/?a=1&b=2" || pr.LicenseURL != h.LAURL {
				t.Errorf("PlayReady header %+v, license URL %q", h, pr.LicenseURL)
			}
			if b, _ := drm.UnmarshalPSSH(pr.PSSH); !bytes.Equal(b.Data, pr.PRO) {
				t.Error("PlayReady pssh does not carry the PRO")
			}
			ck, _ := s.System(drm.ClearKey)
			if b, err := drm.UnmarshalPSSH(ck.PSSH); err != nil || b.SystemID != drm.CommonSystemID || len(b.KIDs) != 1 || b.KIDs[0] != testKID {
				t.Errorf("ClearKey pssh %+v %v", b, err)
			}
			if fp, ok := s.System(drm.FairPlay); ok && fp.KeyURI != "skd://fps.example/"+testKID.Hex() {
				t.Errorf("FairPlay URI %q", fp.KeyURI)
			}
			// Init segments get every pssh, in Systems order.
			if ps := s.PSSHs(); len(ps) != 3 || !bytes.Equal(ps[0], wv.PSSH) || !bytes.Equal(ps[1], pr.PSSH) || !bytes.Equal(ps[2], ck.PSSH) {
				t.Errorf("PSSHs: %d boxes", len(ps))
			}
		})
	}
}

// TestBuildPerKeyPeriod: a Set depends on its own period's inputs only, so
// a caller building one Set per key period gets the same Sets in any order.
func TestBuildPerKeyPeriod(t *testing.T) {
	period := func(i uint32, kid byte) Params {
		p := params(cenc.CBCS)
		p.KID[15] = kid
		p.CryptoPeriodIndex = &i
		return p
	}
	a1, b1 := mustBuild(t, period(7, 1)), mustBuild(t, period(8, 2))
	b2, a2 := mustBuild(t, period(8, 2)), mustBuild(t, period(7, 1))
	for _, pair := range [][2]Set{{a1, a2}, {b1, b2}} {
		for i := range pair[0].Systems {
			x, y := pair[0].Systems[i], pair[1].Systems[i]
			if !bytes.Equal(x.PSSH, y.PSSH) || !bytes.Equal(x.PRO, y.PRO) || x.KeyURI != y.KeyURI || x.LicenseURL != y.LicenseURL {
				t.Errorf("%v differs between builds", x.System)
			}
		}
	}
	wv, _ := b1.System(drm.Widevine)
	box, _ := drm.UnmarshalPSSH(wv.PSSH)
	d, _ := widevine.UnmarshalPsshData(box.Data)
	if d.CryptoPeriodIndex == nil || *d.CryptoPeriodIndex != 8 || d.KeyIDs[0] != b1.KID {
		t.Errorf("period 8 widevine data %+v", d)
	}
}

func TestBuildProvided(t *testing.T) {
	p := params(cenc.CBCS)
	wvBox := []byte("provided widevine pssh")
	p.Provided = map[drm.System]Provided{
		drm.Widevine:  {PSSH: wvBox},
		drm.PlayReady: {PRO: []byte("pro only")}, // incomplete: generated instead
		drm.FairPlay:  {KeyURI: "skd://provider/1"},
	}
	s := mustBuild(t, p)
	wv, _ := s.System(drm.Widevine)
	pr, _ := s.System(drm.PlayReady)
	fp, _ := s.System(drm.FairPlay)
	if !bytes.Equal(wv.PSSH, wvBox) || fp.KeyURI != "skd://provider/1" {
		t.Errorf("provided signaling not used: %q %q", wv.PSSH, fp.KeyURI)
	}
	if _, err := playready.UnmarshalPRO(pr.PRO); err != nil {
		t.Errorf("incomplete PlayReady data was used: %v", err)
	}
}

func TestHLSKeys(t *testing.T) {
	s := mustBuild(t, params(cenc.CBCS))
	keys, err := s.HLSKeys()
	if err != nil {
		t.Fatal(err)
	}
	kidHex := "0x1077EFECC0B24D02ACE33C1E52E2FB4B"
	wv, _ := s.System(drm.Widevine)
	pr, _ := s.System(drm.PlayReady)
	want := []string{
		`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://fps.example/1077efecc0b24d02ace33c1e52e2fb4b",KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"`,
		`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,` + base64.StdEncoding.EncodeToString(wv.PSSH) + `",KEYID=` + kidHex + `,KEYFORMAT="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",KEYFORMATVERSIONS="1"`,
		`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;charset=UTF-16;base64,` + base64.StdEncoding.EncodeToString(pr.PRO) + `",KEYFORMAT="com.microsoft.playready",KEYFORMATVERSIONS="1"`,
		// ClearKey: the KID itself as the data URI (what hls.js reads).
		`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,EHfv7MCyTQKs4zweUuL7Sw==",KEYID=` + kidHex + `,KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1"`,
	}
	if len(keys) != len(want) {
		t.Fatalf("%d keys, want %d", len(keys), len(want))
	}
	for i, k := range keys {
		got, err := k.Tag(false)
		if err != nil || got != want[i] {
			t.Errorf("key %d:\n got %s (%v)\nwant %s", i, got, err, want[i])
		}
		if m, _ := k.Tag(true); m != strings.Replace(want[i], "#EXT-X-KEY:", "#EXT-X-SESSION-KEY:", 1) {
			t.Errorf("session key %d: %s", i, m)
		}
	}
	cencKeys, err := mustBuild(t, params(cenc.CENC)).HLSKeys()
	if err != nil || len(cencKeys) != 3 || cencKeys[0].System != drm.Widevine || cencKeys[0].Method != MethodSampleAESCTR {
		t.Errorf("cenc keys %+v %v", cencKeys, err)
	}
}

func TestContentProtections(t *testing.T) {
	s := mustBuild(t, params(cenc.CENC))
	cps, err := s.ContentProtections()
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 4 || cps[0].SchemeIDURI != SchemeMP4Protection || cps[0].Value != "cenc" || *cps[0].DefaultKID != testKID {
		t.Fatalf("descriptors %+v", cps)
	}
	if x := cps[0].ChildrenXML(); x != nil {
		t.Errorf("mp4protection children %s", x)
	}
	pr, _ := s.System(drm.PlayReady)
	wantPR := `<cenc:pssh xmlns:cenc="urn:mpeg:cenc:2013">` + base64.StdEncoding.EncodeToString(pr.PSSH) + `</cenc:pssh>` +
		`<mspr:pro xmlns:mspr="urn:microsoft:playready">` + base64.StdEncoding.EncodeToString(pr.PRO) + `</mspr:pro>` +
		`<dashif:Laurl xmlns:dashif="https://dashif.org/CPS">https://pr.example/?a=1&amp;b=2</dashif:Laurl>`
	if got := string(cps[2].ChildrenXML()); cps[2].Value != ValuePlayReady || got != wantPR {
		t.Errorf("PlayReady %q children\n got %s\nwant %s", cps[2].Value, got, wantPR)
	}
	// ClearKey: no pssh in the e2719d58 descriptor; the license URL twice.
	wantCK := `<dashif:Laurl xmlns:dashif="https://dashif.org/CPS">https://ck.example/license</dashif:Laurl>` +
		`<clearkey:Laurl xmlns:clearkey="http://dashif.org/guidelines/clearKey" Lic_type="EME-1.0">https://ck.example/license</clearkey:Laurl>`
	if got := string(cps[3].ChildrenXML()); cps[3].SchemeIDURI != drm.ClearKey.SystemID().URN() || cps[3].Value != ValueClearKey || got != wantCK {
		t.Errorf("ClearKey children\n got %s\nwant %s", got, wantCK)
	}
	ck, _ := s.System(drm.ClearKey)
	common, ok := ck.CommonContentProtection()
	if !ok || common.SchemeIDURI != "urn:uuid:1077efec-c0b2-4d02-ace3-3c1e52e2fb4b" || !bytes.Equal(common.PSSH, ck.PSSH) || common.LicenseURL != ck.LicenseURL {
		t.Errorf("common descriptor %+v", common)
	}
}

func TestRenderErrors(t *testing.T) {
	base := func() Set { return mustBuild(t, params(cenc.CBCS)) }
	cases := []struct {
		name   string
		mutate func(*Set)
		want   error
	}{
		{"zero KID", func(s *Set) { s.KID = drm.KeyID{} }, ErrInvalid},
		{"unknown scheme", func(s *Set) { s.Scheme = 0 }, ErrInvalid},
		{"unknown system", func(s *Set) { s.Systems = append(s.Systems, System{System: 99}) }, ErrInvalid},
		{"widevine without pssh", func(s *Set) { s.Systems[0].PSSH = nil }, ErrMissing},
	}
	for _, c := range cases {
		s := base()
		c.mutate(&s)
		if _, err := s.HLSKeys(); !errors.Is(err, c.want) {
			t.Errorf("%s: HLSKeys: %v, want %v", c.name, err, c.want)
		}
		if _, err := s.ContentProtections(); !errors.Is(err, c.want) {
			t.Errorf("%s: ContentProtections: %v, want %v", c.name, err, c.want)
		}
	}
	s := base()
	s.Systems[2].KeyURI = "skd://\"x"
	if _, err := s.HLSKeys(); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.HLSKeys()
	if _, err := keys[0].AttributeList(); !errors.Is(err, ErrInvalid) {
		t.Errorf("quote in URI: %v", err)
	}
	if _, err := Build(Params{Scheme: cenc.CBCS, KID: testKID, Systems: []drm.System{99}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Build with an unknown system: %v", err)
	}
}
