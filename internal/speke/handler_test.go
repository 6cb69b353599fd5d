package speke

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/drm/playready"
	"github.com/drmpipe/drmpipe/internal/drm/widevine"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
)

func post(t testing.TB, h http.Handler, path, body string, v2 bool, token string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/xml")
	if v2 {
		r.Header.Set(HeaderVersion, Version2)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func okDoc(t testing.TB, w *httptest.ResponseRecorder) *cpix.Document {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/xml" {
		t.Errorf("Content-Type %q", ct)
	}
	d, err := cpix.Unmarshal(w.Body.Bytes())
	if err != nil {
		t.Fatalf("response does not parse: %v\n%s", err, w.Body.String())
	}
	return d
}

// cpdPSSH parses ContentProtectionData the way the SPEKE v2 test suite does
// (wrapped in <cpd>) and returns the {urn:mpeg:cenc:2013}pssh text and the
// mspr:pro text.
func cpdPSSH(t testing.TB, cpd []byte) (pssh, pro string) {
	t.Helper()
	var doc struct {
		PSSH []string `xml:"urn:mpeg:cenc:2013 pssh"`
		PRO  []string `xml:"urn:microsoft:playready pro"`
	}
	if err := xml.Unmarshal(append(append([]byte("<cpd>"), cpd...), "</cpd>"...), &doc); err != nil {
		t.Fatalf("ContentProtectionData is not standalone XML: %v: %s", err, cpd)
	}
	if len(doc.PSSH) != 1 {
		t.Fatalf("ContentProtectionData has %d cenc:pssh: %s", len(doc.PSSH), cpd)
	}
	if len(doc.PRO) > 0 {
		pro = doc.PRO[0]
	}
	return doc.PSSH[0], pro
}

// hlsAttrs splits "#EXT-X-KEY:A=B,C="D"" into its tag and attributes.
func hlsAttrs(t testing.TB, line string) (string, map[string]string) {
	t.Helper()
	tag, rest, ok := strings.Cut(line, ":")
	if !ok {
		t.Fatalf("not a tag: %q", line)
	}
	attrs := map[string]string{}
	for rest != "" {
		k, v, _ := strings.Cut(rest, "=")
		if strings.HasPrefix(v, `"`) {
			end := strings.Index(v[1:], `"`) + 1
			attrs[k] = v[1:end]
			rest = strings.TrimPrefix(v[end+1:], ",")
		} else {
			val, next, _ := strings.Cut(v, ",")
			attrs[k] = val
			rest = next
		}
	}
	return tag, attrs
}

func TestV2PresetVideo1Audio1(t *testing.T) {
	e := newEnv(t, testConfig())
	req := fixture(t, "v2_preset_video1_audio1_cbcs.xml")
	w := post(t, e.h, PathV2, req, true, goodToken)
	d := okDoc(t, w)
	if w.Header().Get(HeaderVersion) != Version2 || w.Header().Get(HeaderUserAgentV2) == "" {
		t.Errorf("v2 headers not echoed: %v", w.Header())
	}
	if d.ContentID != "test_case_generic" || d.Version != "2.3" || len(d.ContentKeys) != 2 || len(d.DRMSystems) != 6 || len(d.UsageRules) != 2 {
		t.Fatalf("response shape: %d keys %d systems %d rules", len(d.ContentKeys), len(d.DRMSystems), len(d.UsageRules))
	}
	want := map[string]keys.TrackType{"VIDEO": keys.All, "AUDIO": keys.Audio}
	// The encryptor chose the KIDs: the response has the keys of exactly
	// those KIDs, created in the store with the rules' track types.
	wantKID := map[string]string{"VIDEO": "0f083e4e-b831-4a3d-917e-ce78076e54aa", "AUDIO": "041fdd3a-7f5e-4848-a7cb-65e97758e9a0"}
	for i, r := range d.UsageRules {
		ck := d.ContentKeys[i]
		if r.KID != ck.KID {
			t.Errorf("rule %d kid %s, key kid %s", i, r.KID, ck.KID)
		}
		if ck.KID.String() != wantKID[r.IntendedTrackType] {
			t.Errorf("%s: response KID %s, the encryptor asked for %s", r.IntendedTrackType, ck.KID, wantKID[r.IntendedTrackType])
		}
		stored, err := e.store.GetByContent(context.Background(), "test_case_generic", ck.KID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ck.Value, stored.Key.Key) || !bytes.Equal(ck.ExplicitIV, stored.Key.IV) {
			t.Errorf("%s: response key is not the store's key of KID %s", r.IntendedTrackType, ck.KID)
		}
		if stored.TrackType != want[r.IntendedTrackType] || stored.Period != 0 || stored.Origin != keys.OriginKID {
			t.Errorf("%s: stored as %v origin %s", r.IntendedTrackType, stored, stored.Origin)
		}
		if ck.CommonEncryptionScheme != cpix.SchemeCBCS {
			t.Errorf("scheme not kept: %q", ck.CommonEncryptionScheme)
		}
	}
	if list, _ := e.store.List(context.Background(), "test_case_generic"); len(list) != 2 {
		t.Errorf("store holds %d keys, want the 2 requested", len(list))
	}
	for _, s := range d.DRMSystems {
		if d.ContentKeyByKID(s.KID) < 0 {
			t.Fatalf("DRMSystem kid %s not among the keys", s.KID)
		}
		var media, master string
		for _, h := range s.HLSSignalingData {
			if h.Playlist.IsMaster() {
				master = string(h.Value)
			} else {
				media = string(h.Value)
			}
		}
		mtag, ma := hlsAttrs(t, media)
		stag, sa := hlsAttrs(t, master)
		if mtag != "#EXT-X-KEY" || stag != "#EXT-X-SESSION-KEY" {
			t.Errorf("tags %q %q", mtag, stag)
		}
		for _, a := range []string{"METHOD", "KEYFORMAT", "KEYFORMATVERSIONS", "URI"} {
			if ma[a] != sa[a] || ma[a] == "" {
				t.Errorf("%s: media %s=%q, master %q", s.SystemID, a, ma[a], sa[a])
			}
		}
		if ma["METHOD"] != "SAMPLE-AES" {
			t.Errorf("cbcs METHOD %q", ma["METHOD"])
		}
		switch s.SystemID {
		case drm.WidevineSystemID:
			box := unmarshalPSSH(t, s.PSSH)
			pd, err := widevine.UnmarshalPsshData(box.Data)
			if err != nil {
				t.Fatal(err)
			}
			if len(pd.KeyIDs) != 1 || pd.KeyIDs[0] != s.KID || pd.ProtectionScheme != widevine.SchemeCBCS || pd.Provider != "drmpipe_test" {
				t.Errorf("widevine pssh data %+v", pd)
			}
			if pd.CryptoPeriodIndex == nil || *pd.CryptoPeriodIndex != 0 {
				t.Errorf("rotation request without crypto_period_index")
			}
			p, _ := cpdPSSH(t, *s.ContentProtectionData)
			if p != base64.StdEncoding.EncodeToString(*s.PSSH) {
				t.Errorf("CPD pssh differs from PSSH")
			}
			if ma["KEYFORMAT"] != "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed" || ma["URI"] != "data:text/plain;base64,"+base64.StdEncoding.EncodeToString(*s.PSSH) {
				t.Errorf("widevine HLS %q", media)
			}
			if ma["KEYID"] != "0x"+strings.ToUpper(s.KID.Hex()) {
				t.Errorf("KEYID %q", ma["KEYID"])
			}
		case drm.PlayReadySystemID:
			box := unmarshalPSSH(t, s.PSSH)
			hdr, err := playready.UnmarshalPRO(box.Data)
			if err != nil {
				t.Fatal(err)
			}
			if hdr.Version != playready.Version43 || hdr.ALGID != playready.AlgAESCBC || len(hdr.KIDs) != 1 || hdr.KIDs[0] != s.KID || hdr.LAURL != testConfig().PlayReadyLAURL {
				t.Errorf("PlayReady header %+v", hdr)
			}
			p, pro := cpdPSSH(t, *s.ContentProtectionData)
			if p != base64.StdEncoding.EncodeToString(*s.PSSH) || pro != base64.StdEncoding.EncodeToString(box.Data) {
				t.Errorf("PlayReady CPD pssh/pro differ from PSSH")
			}
			if ma["KEYFORMAT"] != "com.microsoft.playready" || ma["URI"] != "data:text/plain;charset=UTF-16;base64,"+base64.StdEncoding.EncodeToString(box.Data) {
				t.Errorf("PlayReady HLS %q", media)
			}
		case drm.FairPlaySystemID:
			if s.PSSH != nil || s.ContentProtectionData != nil {
				t.Errorf("FairPlay got PSSH or ContentProtectionData")
			}
			if ma["KEYFORMAT"] != "com.apple.streamingkeydelivery" || ma["URI"] != "skd://fps.example.com/"+s.KID.Hex() {
				t.Errorf("FairPlay HLS %q", media)
			}
		default:
			t.Errorf("unexpected system %s", s.SystemID)
		}
	}
	// A retried request gets the same keys and KIDs, and the same signaling.
	d2 := okDoc(t, post(t, e.h, PathV2, req, true, goodToken))
	for i := range d.ContentKeys {
		if d.ContentKeys[i].KID != d2.ContentKeys[i].KID || !bytes.Equal(d.ContentKeys[i].Value, d2.ContentKeys[i].Value) ||
			!bytes.Equal(d.ContentKeys[i].ExplicitIV, d2.ContentKeys[i].ExplicitIV) {
			t.Errorf("retry gave a different key %d", i)
		}
	}
	for i := range d.DRMSystems {
		if d.DRMSystems[i].PSSH != nil && !bytes.Equal(*d.DRMSystems[i].PSSH, *d2.DRMSystems[i].PSSH) {
			t.Errorf("retry gave a different PSSH for system %d", i)
		}
	}
}

func TestV2SharedCENCWithClearKey(t *testing.T) {
	e := newEnv(t, testConfig())
	d := okDoc(t, post(t, e.h, PathV2, fixture(t, "v2_shared_all_cenc.xml"), true, goodToken))
	if len(d.ContentKeys) != 1 {
		t.Fatal(len(d.ContentKeys))
	}
	kid := d.ContentKeys[0].KID
	for _, s := range d.DRMSystems {
		switch s.SystemID {
		case drm.PlayReadySystemID:
			hdr, err := playready.UnmarshalPRO(*s.SmoothStreamingProtectionHeaderData)
			if err != nil {
				t.Fatal(err)
			}
			sum, _ := playready.Checksum(kid, d.ContentKeys[0].Value)
			if hdr.Version != playready.Version40 || hdr.ALGID != playready.AlgAESCTR || len(hdr.Checksums) != 1 || !bytes.Equal(hdr.Checksums[0], sum) {
				t.Errorf("cenc PlayReady header %+v", hdr)
			}
		case drm.CommonSystemID:
			box := unmarshalPSSH(t, s.PSSH)
			if box.SystemID != drm.CommonSystemID || box.Version != 1 || len(box.KIDs) != 1 || box.KIDs[0] != kid {
				t.Errorf("common pssh %+v", box)
			}
			cpd := string(*s.ContentProtectionData)
			if !strings.Contains(cpd, `<dashif:Laurl xmlns:dashif="https://dashif.org/CPS">https://ck.example.com/license?x=1&amp;y=2</dashif:Laurl>`) {
				t.Errorf("ClearKey CPD %s", cpd)
			}
			cpdPSSH(t, *s.ContentProtectionData)
		case drm.WidevineSystemID:
			for _, h := range s.HLSSignalingData {
				if _, a := hlsAttrs(t, string(h.Value)); a["METHOD"] != "SAMPLE-AES-CTR" {
					t.Errorf("cenc METHOD %q", a["METHOD"])
				}
			}
		}
	}
}

func TestV1LiveRequest(t *testing.T) {
	e := newEnv(t, testConfig())
	w := post(t, e.h, PathV1, fixture(t, "v1_live_request.xml"), false, goodToken)
	d := okDoc(t, w)
	if w.Header().Get(HeaderUserAgentV1) == "" {
		t.Error("no Speke-User-Agent")
	}
	ck := d.ContentKeys[0]
	if ck.KID.String() != "98ee5596-cd3e-a20d-163a-e382420c6eff" {
		t.Fatalf("v1 response KID %s is not the requested one", ck.KID)
	}
	stored, err := e.store.GetByContent(context.Background(), "abc123", ck.KID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ck.Value, stored.Key.Key) || !bytes.Equal(ck.ExplicitIV, stored.Key.IV) {
		t.Fatal("v1 key is not the store's key of the requested KID")
	}
	if stored.TrackType != keys.All || stored.Period != 1 { // ContentKeyPeriod@index="1"
		t.Fatalf("v1 key stored as %v", stored)
	}
	for _, s := range d.DRMSystems {
		if s.KID != ck.KID {
			t.Errorf("DRMSystem KID %s", s.KID)
		}
	}
	fp, wv, pr := d.DRMSystems[0], d.DRMSystems[1], d.DRMSystems[2]
	if string(*fp.URIExtXKey) != "skd://fps.example.com/"+ck.KID.Hex() || string(*fp.KeyFormat) != "com.apple.streamingkeydelivery" || string(*fp.KeyFormatVersions) != "1" {
		t.Errorf("FairPlay v1 fields: %q %q", *fp.URIExtXKey, *fp.KeyFormat)
	}
	if wv.PSSH == nil || wv.ContentProtectionData != nil {
		t.Errorf("v1 must fill only the requested elements")
	}
	if _, err := drm.UnmarshalPSSH(*wv.PSSH); err != nil {
		t.Error(err)
	}
	box := unmarshalPSSH(t, pr.PSSH)
	if !bytes.Equal(box.Data, *pr.ProtectionHeader) {
		t.Errorf("speke:ProtectionHeader is not the PRO of the pssh")
	}
	if !bytes.Contains(w.Body.Bytes(), []byte("<speke:ProtectionHeader>")) || !bytes.Contains(w.Body.Bytes(), []byte(`xmlns:speke="urn:aws:amazon:com:speke"`)) {
		t.Error("speke: elements not written with their prefix")
	}
}

// A SPEKE v1 content ID (CPIX@id) follows the same rule as v2's.
func TestV1RejectsContentID(t *testing.T) {
	e := newEnv(t, testConfig())
	for _, id := range []string{"../../x", "a/b", ".hidden"} {
		body := strings.Replace(fixture(t, "v1_live_request.xml"), `id="abc123"`, `id="`+id+`"`, 1)
		w := post(t, e.h, PathV1, body, false, goodToken)
		if w.Code != 422 {
			t.Fatalf("%s: status %d: %s", id, w.Code, w.Body.String())
		}
		if b := errBody(t, w); !strings.Contains(b.Message, "CPIX@id: invalid content ID") {
			t.Errorf("%s: %+v", id, b)
		}
	}
	if n := e.keys.calls.Load(); n != 0 {
		t.Errorf("rejected requests touched the key store %d times", n)
	}
}

func TestEncryptedDelivery(t *testing.T) {
	e := newEnv(t, testConfig())
	priv, cert := newRecipient(t)
	req := strings.Replace(fixture(t, "v2_preset_video1_audio1_cbcs.xml"), "<cpix:ContentKeyList>",
		`<cpix:DeliveryDataList><cpix:DeliveryData id="origin-1"><cpix:DeliveryKey><ds:X509Data><ds:X509Certificate>`+
			base64.StdEncoding.EncodeToString(cert.Raw)+`</ds:X509Certificate></ds:X509Data></cpix:DeliveryKey></cpix:DeliveryData></cpix:DeliveryDataList><cpix:ContentKeyList>`, 1)
	w := post(t, e.h, PathV2, req, true, goodToken)
	d := okDoc(t, w)
	if bytes.Contains(w.Body.Bytes(), []byte("PlainValue")) {
		t.Fatal("clear key in an encrypted-delivery response")
	}
	if len(d.DeliveryData) != 1 || d.DeliveryData[0].ID != "origin-1" || d.DeliveryData[0].DocumentKey == nil {
		t.Fatalf("DeliveryData %+v", d.DeliveryData)
	}
	if err := cpix.DecryptKeys(d, priv); err != nil {
		t.Fatal(err)
	}
	audioKID, _ := drm.ParseKeyID("041fdd3a-7f5e-4848-a7cb-65e97758e9a0")
	stored, err := e.store.GetByContent(context.Background(), "test_case_generic", audioKID)
	if err != nil {
		t.Fatal(err)
	}
	if i := d.ContentKeyByKID(audioKID); i < 0 || !bytes.Equal(d.ContentKeys[i].Value, stored.Key.Key) {
		t.Error("decrypted key is not the store's")
	}
	// A certificate that does not parse is refused before keys are touched.
	before := e.keys.calls.Load()
	bad := strings.Replace(req, base64.StdEncoding.EncodeToString(cert.Raw), base64.StdEncoding.EncodeToString([]byte("not a certificate")), 1)
	if w := post(t, e.h, PathV2, bad, true, goodToken); w.Code != http.StatusUnprocessableEntity || e.keys.calls.Load() != before {
		t.Errorf("bad certificate: %d, keys touched %v", w.Code, e.keys.calls.Load() != before)
	}
}

func errBody(t testing.TB, w *httptest.ResponseRecorder) httperr.Body {
	t.Helper()
	var b httperr.Body
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, w.Body.String())
	}
	return b
}

// The negative cases of the SPEKE v2 constraints (AWS SPEKE v2 docs,
// MediaPackage "Implementing SPEKE v2.0", speke-reference-server
// test_negative_cases.py), as edits of the valid fixture.
func TestV2Rejects(t *testing.T) {
	base := fixture(t, "v2_preset_video1_audio1_cbcs.xml")
	shared := fixture(t, "v2_shared_all_cenc.xml")
	cut := func(s, start, end string) string {
		i, j := strings.Index(s, start), strings.Index(s, end)
		if i < 0 || j < 0 {
			t.Fatalf("fixture lacks %s", start)
		}
		return s[:i] + s[j+len(end):]
	}
	cases := []struct {
		name, body string
		noHeader   bool
		status     int
		msg        string
	}{
		{"empty body", "", false, 400, "empty document"},
		{"no version header", base, true, 422, "Unsupported SPEKE version"},
		{"missing contentId", strings.Replace(base, `contentId="test_case_generic" `, "", 1), false, 422, "Missing CPIX@contentId"},
		{"traversal contentId", strings.Replace(base, `contentId="test_case_generic"`, `contentId="../../etc/passwd"`, 1), false, 422, `CPIX@contentId: invalid content ID: "../../etc/passwd" starts with "."`},
		{"absolute contentId", strings.Replace(base, `contentId="test_case_generic"`, `contentId="/data/keys.db"`, 1), false, 422, `CPIX@contentId: invalid content ID: "/data/keys.db" has '/'`},
		{"contentId with a space", strings.Replace(base, `contentId="test_case_generic"`, `contentId="a b"`, 1), false, 422, "CPIX@contentId: invalid content ID"},
		{"long contentId", strings.Replace(base, `contentId="test_case_generic"`, `contentId="`+strings.Repeat("x", keys.MaxContentIDLen+1)+`"`, 1), false, 422, "CPIX@contentId: invalid content ID: has 257 bytes"},
		{"missing version", strings.Replace(base, `version="2.3" `, "", 1), false, 422, "Missing CPIX@version"},
		{"wrong version", strings.Replace(base, `version="2.3"`, `version="2.0"`, 1), false, 422, "Unsupported CPIX@version"},
		{"no ContentKeyList", cut(base, "<cpix:ContentKeyList>", "</cpix:ContentKeyList>"), false, 422, "Missing ContentKeyList/ContentKey"},
		{"no DRMSystemList", cut(base, "<cpix:DRMSystemList>", "</cpix:DRMSystemList>"), false, 422, "Missing DRMSystemList/DRMSystem"},
		{"no usage rules", cut(base, "<cpix:ContentKeyUsageRuleList>", "</cpix:ContentKeyUsageRuleList>"), false, 422, "Missing ContentKeyUsageRuleList"},
		{"missing scheme", strings.Replace(base, ` commonEncryptionScheme="cbcs"`, "", 1), false, 422, "Missing ContentKey@commonEncryptionScheme for KID 0f083e4e"},
		{"two schemes", strings.Replace(base, `e54aa" commonEncryptionScheme="cbcs"`, `e54aa" commonEncryptionScheme="cenc"`, 1), false, 422, "Non compliant ContentKey@commonEncryptionScheme combination"},
		{"fairplay with cenc", strings.ReplaceAll(base, `"cbcs"`, `"cenc"`), false, 422, "FairPlay"},
		{"cens", strings.ReplaceAll(shared, `"cenc"`, `"cens"`), false, 422, "Unsupported ContentKey@commonEncryptionScheme cens"},
		{"missing intendedTrackType", strings.Replace(base, ` intendedTrackType="AUDIO"`, "", 1), false, 422, "Missing ContentKeyUsageRule@intendedTrackType"},
		{"unknown track type", strings.Replace(base, `"AUDIO"`, `"MULTICHANNEL_AUDIO_7"`, 1), false, 422, `intendedTrackType "MULTICHANNEL_AUDIO_7"`},
		{"duplicate track type", strings.Replace(base, `"AUDIO"`, `"VIDEO"`, 1), false, 422, "appears in more than one"},
		{"shared negative", fixture(t, "v2_negative_shared_video.xml"), false, 422, "Invalid preset combination"},
		{"ALL with audio", strings.Replace(base, `"VIDEO"`, `"ALL"`, 1), false, 422, "Invalid preset combination"},
		{"VIDEO with SD", strings.Replace(strings.Replace(base, `"AUDIO"`, `"SD"`, 1), "<cpix:AudioFilter/>", "<cpix:VideoFilter/>", 1), false, 422, "PRESET-VIDEO-1"},
		{"video rule with AudioFilter", strings.Replace(base, "<cpix:VideoFilter/>", "<cpix:AudioFilter/>", 1), false, 422, "with an AudioFilter"},
		{"unknown system", strings.Replace(base, "94ce86fb-07ff-4f43-adb8-93d2fa968ca2", "11111111-2222-3333-4444-555555555555", 1), false, 422, "Unsupported DRMSystem@systemId 11111111"},
		{"aes-128 system", strings.Replace(base, "94ce86fb-07ff-4f43-adb8-93d2fa968ca2", "3ea8778f-7742-4bf9-b18b-e834b2acbd47", 1), false, 422, "AES-128"},
		{"unknown period", strings.Replace(base, `periodId="keyPeriod_2a50937e`, `periodId="nope_2a50937e`, 1), false, 422, "names no ContentKeyPeriod"},
		{"missing kid", strings.Replace(base, `<cpix:ContentKey kid="0f083e4e-b831-4a3d-917e-ce78076e54aa"`, `<cpix:ContentKey`, 1), false, 400, "ContentKeyList/ContentKey[1] (line 8): missing @kid"},
		{"missing systemId", strings.Replace(base, ` systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"`, "", 1), false, 400, "missing @systemId"},
		{"xxe", `<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]><cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" contentId="&x;" version="2.3"/>`, false, 400, "DTDs and entity declarations are not accepted"},
		{"depth bomb", `<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix">` + strings.Repeat("<x>", 5000) + strings.Repeat("</x>", 5000) + `</cpix:CPIX>`, false, 400, "deeper than 32"},
	}
	e := newEnv(t, testConfig())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := post(t, e.h, PathV2, c.body, !c.noHeader, goodToken)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body.String())
			}
			b := errBody(t, w)
			if b.Code != httperr.CodeInvalidRequest || !strings.Contains(b.Message, c.msg) {
				t.Errorf("body %+v, want message with %q", b, c.msg)
			}
			if w.Header().Get(HeaderVersion) != Version2 {
				t.Error("X-Speke-Version not echoed on an error")
			}
		})
	}
	if n := e.keys.calls.Load(); n != 0 {
		t.Errorf("rejected requests touched the key store %d times", n)
	}
}

func TestAuthAndLimitsBeforeKeys(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRequestBytes = 4096
	e := newEnv(t, cfg)
	body := fixture(t, "v2_preset_video1_audio1_cbcs.xml")
	// RFC 6750 §3: 401 and 403 carry a Bearer challenge (RFC 9110 §11.6.1
	// requires one on every 401).
	cases := []struct {
		name, token, path, method, body string
		status                          int
		code                            httperr.Code
		challenge                       string
	}{
		{"no token", "", PathV2, http.MethodPost, body, 401, httperr.CodeUnauthorized, `Bearer realm="drmpipe"`},
		{"unknown token", "nope", PathV1, http.MethodPost, body, 401, httperr.CodeUnauthorized, `Bearer realm="drmpipe", error="invalid_token"`},
		{"wrong scope", licenseToken, PathV2, http.MethodPost, body, 403, httperr.CodeForbidden, `Bearer realm="drmpipe", error="insufficient_scope"`},
		{"GET", goodToken, PathV2, http.MethodGet, "", 405, httperr.CodeMethodNotAllowed, ""},
		{"oversized", goodToken, PathV2, http.MethodPost, body + strings.Repeat(" ", 4096), 413, httperr.CodeTooLarge, ""},
		{"v1 with v2 header value", goodToken, PathV1, http.MethodPost, body, 422, httperr.CodeInvalidRequest, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			r.Header.Set(HeaderVersion, "2.0")
			if c.token != "" {
				r.Header.Set("Authorization", "Bearer "+c.token)
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body.String())
			}
			if b := errBody(t, w); b.Code != c.code {
				t.Errorf("code %q, want %q", b.Code, c.code)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != c.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, c.challenge)
			}
		})
	}
	if n := e.keys.calls.Load(); n != 0 {
		t.Errorf("refused requests touched the key store %d times", n)
	}
	// Without an Authenticator nothing is served.
	ck := &countingKeys{KeyGetter: e.store}
	h := NewHandler(cfg, Deps{Keys: ck})
	if w := post(t, h, PathV2, body, true, goodToken); w.Code != 401 || ck.calls.Load() != 0 || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("nil Auth: %d (WWW-Authenticate %q), keys touched %d", w.Code, w.Header().Get("WWW-Authenticate"), ck.calls.Load())
	}
}

func TestResponseNeverLogsKeys(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, testConfig())
	h := NewHandler(testConfig(), Deps{Keys: e.store, Auth: tokenAuth{goodToken: Scope}, Logger: newTextLogger(&logs)})
	d := okDoc(t, post(t, h, PathV2, fixture(t, "v2_preset_video1_audio1_cbcs.xml"), true, goodToken))
	post(t, h, PathV2, "<bad", true, goodToken)
	for _, k := range d.ContentKeys {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(k.Value), hex.EncodeToString(k.Value)} {
			if strings.Contains(strings.ToLower(logs.String()), strings.ToLower(enc)) {
				t.Fatal("key logged")
			}
		}
	}
	if !strings.Contains(logs.String(), "speke keys served") {
		t.Errorf("no access log: %s", logs.String())
	}
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// unmarshalPSSH decodes a DRMSystem's PSSH element, failing the test when
// it is missing or not a pssh box.
func unmarshalPSSH(t *testing.T, b *[]byte) drm.PSSH {
	t.Helper()
	if b == nil {
		t.Fatal("no PSSH element")
	}
	box, err := drm.UnmarshalPSSH(*b)
	if err != nil {
		t.Fatal(err)
	}
	return box
}
