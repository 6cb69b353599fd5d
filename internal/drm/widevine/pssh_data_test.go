package widevine

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

func TestShakaUnitTestVectors(t *testing.T) {
	// Shaka Packager packager/media/base/pssh_generator_unittest.cc:
	// kExpectedWidevinePssh (no protection scheme) and
	// kExpectedWidevinePsshCbcs, KIDs "keyid1~~~~~~~~~~", "keyid2~~~~~~~~~~".
	hdr := "7073736800000000edef8ba979d64acea3c827dcd51d21ed"
	kids := "1210" + hex.EncodeToString([]byte("keyid1~~~~~~~~~~")) + "1210" + hex.EncodeToString([]byte("keyid2~~~~~~~~~~"))
	cases := []struct {
		name   string
		scheme uint32
		want   string
	}{
		{"no scheme", 0, "00000044" + hdr + "00000024" + kids},
		{"cbcs", SchemeCBCS, "0000004a" + hdr + "0000002a" + kids + "48f3c6899b06"},
	}
	for _, c := range cases {
		d := PsshData{KeyIDs: []drm.KeyID{testtools.ASCIIKID("keyid1~~~~~~~~~~"), testtools.ASCIIKID("keyid2~~~~~~~~~~")}, ProtectionScheme: c.scheme}
		got := PSSH(d).Marshal()
		if !bytes.Equal(got, testtools.Unhex(t, c.want)) {
			t.Errorf("%s:\n got %x\nwant %s", c.name, got, c.want)
		}
		_, back := parseBox(t, got)
		if len(back.KeyIDs) != 2 || back.KeyIDs[1] != d.KeyIDs[1] || back.ProtectionScheme != c.scheme {
			t.Errorf("%s: parsed %+v", c.name, back)
		}
	}
}

func TestAppleAndShakaBoxes(t *testing.T) {
	cases := []struct {
		name   string
		b64    string
		kid    string
		scheme uint32
	}{
		// Apple, "Using content protection systems with HLS" (Widevine EXT-X-KEY example).
		{"apple", "AAAAOHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABgSEAQUJDREVGR0hJSktMTU5PRI88aJmwY=", "04142434-4454-6474-8494-a4b4c4d4e4f4", SchemeCBCS},
		// Output of Shaka Packager 3.4.2 --protection_scheme cenc with
		// key_id 00112233445566778899aabbccddeeff (its MPD cenc:pssh).
		{"shaka cenc", "AAAAOHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAABgSEAARIjNEVWZ3iJmqu8zd7v9I49yVmwY=", "00112233-4455-6677-8899-aabbccddeeff", SchemeCENC},
	}
	for _, c := range cases {
		raw, _ := base64.StdEncoding.DecodeString(c.b64)
		k, _ := drm.ParseKeyID(c.kid)
		got := PSSH(PsshData{KeyIDs: []drm.KeyID{k}, ProtectionScheme: c.scheme}).Marshal()
		if !bytes.Equal(got, raw) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, got, raw)
		}
	}
}

func TestCastlabsBoxSkipsAlgorithm(t *testing.T) {
	// Widevine pssh of mp4ff's mp4/testdata/init_cenc.cmfv (Eyevinn/mp4ff):
	// algorithm=AESCTR (field 1, skipped), key_id, provider "castlabs",
	// content_id, policy "default".
	raw, _ := base64.StdEncoding.DecodeString("AAAAZXBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAAEUIARIQ8FdjnZKHMxWL9VCZnElF9xoIY2FzdGxhYnMiHGV5SmhjM05sZEVsa0lqb2lkSFl5WDJaNWJpSjkyB2RlZmF1bHQ=")
	box, d := parseBox(t, raw)
	wantKID, _ := drm.ParseKeyID("f057639d928733158bf550999c4945f7")
	if len(d.KeyIDs) != 1 || d.KeyIDs[0] != wantKID || d.Provider != "castlabs" || d.Policy != "default" ||
		string(d.ContentID) != "eyJhc3NldElkIjoidHYyX2Z5biJ9" || d.ProtectionScheme != 0 {
		t.Fatalf("parsed %+v (content_id %q)", d, d.ContentID)
	}
	// Re-encoding drops only the deprecated algorithm field (2 bytes).
	if got := d.Marshal(); !bytes.Equal(got, box.Data[2:]) {
		t.Errorf("re-encoded %x\nwant %x", got, box.Data[2:])
	}
}

var dataCases = func() []PsshData {
	idx := uint32(300)
	return []PsshData{
		{},
		{KeyIDs: []drm.KeyID{{1}, {2}}, ProtectionScheme: SchemeCENC},
		{KeyIDs: []drm.KeyID{{3}}, Provider: "widevine_test", ContentID: []byte("content"), Policy: "p", CryptoPeriodIndex: &idx, ProtectionScheme: SchemeCBCS},
	}
}()

func TestRoundTrip(t *testing.T) {
	for i, d := range dataCases {
		b := d.Marshal()
		back, err := UnmarshalPsshData(b)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(back.Marshal(), b) {
			t.Errorf("case %d: round trip differs", i)
		}
		if (d.CryptoPeriodIndex == nil) != (back.CryptoPeriodIndex == nil) {
			t.Errorf("case %d: crypto_period_index presence lost", i)
		}
	}
}

func TestUnmarshalErrors(t *testing.T) {
	full := dataCases[2].Marshal()
	cases := map[string][]byte{
		"truncated bytes":  full[:len(full)-1],
		"truncated key_id": full[:10],
		"truncated tag":    {0x80},
		"short key_id":     {0x12, 0x02, 1, 2},
		"wrong wire type":  {0x10, 0x01},
		"group wire type":  {0x0b},
		"field zero":       {0x00, 0x01},
		"overflow":         {0x48, 0xff, 0xff, 0xff, 0xff, 0x1f},
		"truncated i64":    {0x59, 1, 2},
		"truncated i32":    {0x5d, 1},
		"truncated varint": {0x48, 0xff},
	}
	for name, b := range cases {
		_, err := UnmarshalPsshData(b)
		if !errors.Is(err, drm.ErrInvalid) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// Unknown fields of every wire type are skipped.
	b := append([]byte{0x59, 1, 2, 3, 4, 5, 6, 7, 8, 0x5d, 1, 2, 3, 4, 0x60, 0x05, 0x6a, 0x01, 'x'}, dataCases[1].Marshal()...)
	d, err := UnmarshalPsshData(b)
	if err != nil || len(d.KeyIDs) != 2 {
		t.Fatalf("unknown fields: %v %+v", err, d)
	}
}

func FuzzUnmarshalPsshData(f *testing.F) {
	for _, d := range dataCases {
		f.Add(d.Marshal())
	}
	testtools.FuzzParser(f, UnmarshalPsshData, drm.ErrInvalid, func(t *testing.T, _ []byte, d PsshData) {
		back, err := UnmarshalPsshData(d.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !bytes.Equal(back.Marshal(), d.Marshal()) {
			t.Fatal("round trip differs")
		}
	})
}

// parseBox parses a whole Widevine pssh box (ISO/IEC 23001-7 §8.1) and its
// WidevinePsshData; either failing fails the test.
func parseBox(t *testing.T, raw []byte) (drm.PSSH, PsshData) {
	t.Helper()
	return testtools.ParsePSSH(t, raw, UnmarshalPsshData)
}
