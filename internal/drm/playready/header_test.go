package playready

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// Shaka Packager packager/media/base/pssh_generator_unittest.cc test key.
var (
	shakaKID = testtools.ASCIIKID("keyid1~~~~~~~~~~")
	shakaKey = []byte("contentkey1~~~~~")
)

func TestChecksumShakaVector(t *testing.T) {
	// kExpectedPlayReadyPsshWithCtrKey: CHECKSUM uFY/OirQj/U=, KID aXllazFkfn5+fn5+fn5+fg==.
	sum, err := Checksum(shakaKID, shakaKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.StdEncoding.EncodeToString(sum); got != "uFY/OirQj/U=" {
		t.Errorf("checksum %s", got)
	}
	if got := kidValue(shakaKID); got != "aXllazFkfn5+fn5+fn5+fg==" {
		t.Errorf("KID value %s", got)
	}
	if _, err := Checksum(shakaKID, []byte("short")); !errors.Is(err, ErrKeys) {
		t.Errorf("short key: %v", err)
	}
}

func TestGUIDSwapVector(t *testing.T) {
	// MPEG-DASH PlayReady spec (MicrosoftDocs/PlayReady mpeg-dash-playready.md
	// §2.2.5 Table 2): f81d4fae-7dec-11d0-a765-00a0c91e6bf6 -> rk8d+Ox90BGnZQCgyR5r9g==.
	k, _ := drm.ParseKeyID("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
	if got := kidValue(k); got != "rk8d+Ox90BGnZQCgyR5r9g==" {
		t.Errorf("got %s", got)
	}
	if back, _ := parseKIDValue("rk8d+Ox90BGnZQCgyR5r9g=="); back != k {
		t.Errorf("parse back %v", back)
	}
}

func TestShakaPSSHVectors(t *testing.T) {
	// pssh_generator_unittest.cc kExpectedPlayReadyPsshWithCtrKey (size 0x226)
	// and kExpectedPlayReadyPsshWithCbcKey (size 0x1de).
	cases := []struct {
		scheme  cenc.Scheme
		size    int
		proHead string
		xml     string
	}{
		{cenc.CENC, 0x226, "06020000 0100 0100 fc01",
			`<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>aXllazFkfn5+fn5+fn5+fg==</KID><CHECKSUM>uFY/OirQj/U=</CHECKSUM></DATA></WRMHEADER>`},
		{cenc.CBCS, 0x1de, "be010000 0100 0100 b401",
			`<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.3.0.0"><DATA><PROTECTINFO><KIDS><KID ALGID="AESCBC" VALUE="aXllazFkfn5+fn5+fn5+fg=="></KID></KIDS></PROTECTINFO></DATA></WRMHEADER>`},
	}
	for _, c := range cases {
		h, err := NewHeader(c.scheme, []drm.KeyID{shakaKID}, [][]byte{shakaKey}, "")
		if err != nil {
			t.Fatal(err)
		}
		if h.XML() != c.xml {
			t.Errorf("%v XML:\n got %s\nwant %s", c.scheme, h.XML(), c.xml)
		}
		box := PSSH(h).Marshal()
		if len(box) != c.size {
			t.Errorf("%v: pssh size %#x, want %#x", c.scheme, len(box), c.size)
		}
		wantPrefix, _ := hex.DecodeString(hexLen(c.size) + "70737368000000009a04f07998404286ab92e65be0885f95" + hexLen(c.size-32) + strings.ReplaceAll(c.proHead, " ", "") + "3c00570052004d00")
		if !bytes.HasPrefix(box, wantPrefix) {
			t.Errorf("%v: box prefix\n got %x\nwant %x", c.scheme, box[:len(wantPrefix)], wantPrefix)
		}
		_, back := testtools.ParsePSSH(t, box, UnmarshalPRO)
		if back.Version != h.Version || back.ALGID != h.ALGID || len(back.KIDs) != 1 || back.KIDs[0] != shakaKID || back.XML() != c.xml {
			t.Errorf("%v: parsed back %+v", c.scheme, back)
		}
	}
}

func hexLen(n int) string {
	return hex.EncodeToString([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// proFromXML wraps any string in a one-record PRO.
func proFromXML(s string) []byte {
	u := utf16.Encode([]rune(s))
	rec := make([]byte, 0, 2*len(u))
	for _, c := range u {
		rec = binary.LittleEndian.AppendUint16(rec, c)
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(10+len(rec)))
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(rec)))
	return append(b, rec...)
}

func TestApplePRO(t *testing.T) {
	// Apple "Using content protection systems with HLS": 4.3 PRO of 446 bytes
	// for the Widevine key_id 04142434-4454-6474-8494-a4b4c4d4e4f4,
	// VALUE NCQUBFREdGSElKS0xNTk9A==. Rebuilt from the decoded header text.
	k, _ := drm.ParseKeyID("04142434-4454-6474-8494-a4b4c4d4e4f4")
	h, err := NewHeader(cenc.CBCS, []drm.KeyID{k}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	pro := h.MarshalPRO()
	if len(pro) != 446 || !strings.HasPrefix(base64.StdEncoding.EncodeToString(pro), "vgEAAAEAAQC0ATwAVwBSAE0A") {
		t.Errorf("PRO %d bytes, %s…", len(pro), base64.StdEncoding.EncodeToString(pro)[:24])
	}
	if !strings.Contains(h.XML(), `VALUE="NCQUBFREdGSElKS0xNTk9A=="`) {
		t.Errorf("XML %s", h.XML())
	}
}

func TestShakaOutputPRO(t *testing.T) {
	// mspr:pro from a Shaka Packager 3.4.2 run, --protection_scheme cenc,
	// key_id 00112233445566778899aabbccddeeff, key 000102030405060708090a0b0c0d0e0f.
	const pro = "BgIAAAEAAQD8ATwAVwBSAE0ASABFAEEARABFAFIAIAB4AG0AbABuAHMAPQAiAGgAdAB0AHAAOgAvAC8AcwBjAGgAZQBtAGEAcwAuAG0AaQBjAHIAbwBzAG8AZgB0AC4AYwBvAG0ALwBEAFIATQAvADIAMAAwADcALwAwADMALwBQAGwAYQB5AFIAZQBhAGQAeQBIAGUAYQBkAGUAcgAiACAAdgBlAHIAcwBpAG8AbgA9ACIANAAuADAALgAwAC4AMAAiAD4APABEAEEAVABBAD4APABQAFIATwBUAEUAQwBUAEkATgBGAE8APgA8AEsARQBZAEwARQBOAD4AMQA2ADwALwBLAEUAWQBMAEUATgA+ADwAQQBMAEcASQBEAD4AQQBFAFMAQwBUAFIAPAAvAEEATABHAEkARAA+ADwALwBQAFIATwBUAEUAQwBUAEkATgBGAE8APgA8AEsASQBEAD4ATQB5AEkAUgBBAEYAVgBFAGQAMgBhAEkAbQBhAHEANwB6AE4AMwB1AC8AdwA9AD0APAAvAEsASQBEAD4APABDAEgARQBDAEsAUwBVAE0APgBLAHAATwB2AFgAUgBMAFUAWABmAHMAPQA8AC8AQwBIAEUAQwBLAFMAVQBNAD4APAAvAEQAQQBUAEEAPgA8AC8AVwBSAE0ASABFAEEARABFAFIAPgA="
	raw, _ := base64.StdEncoding.DecodeString(pro)
	k, _ := drm.ParseKeyID("00112233445566778899aabbccddeeff")
	key, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f")
	h, err := NewHeader(cenc.CENC, []drm.KeyID{k}, [][]byte{key}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.MarshalPRO(), raw) {
		t.Errorf("PRO differs from Shaka's")
	}
	back, err := UnmarshalPRO(raw)
	if err != nil || back.KIDs[0] != k {
		t.Fatalf("%v %+v", err, back)
	}
	want, _ := Checksum(k, key)
	if !bytes.Equal(back.Checksums[0], want) {
		t.Errorf("checksum %x want %x", back.Checksums[0], want)
	}
}

// headerCases is the shared case table for round-trip and fuzz tests.
var headerCases = []Header{
	{Version: Version40, KIDs: []drm.KeyID{{1, 2, 3}}, Checksums: [][]byte{{1, 2, 3, 4, 5, 6, 7, 8}}, ALGID: AlgAESCTR, LAURL: "https://lic.example/pr?a=1&b=<2>"},
	{Version: Version41, KIDs: []drm.KeyID{{4}}, Checksums: [][]byte{{9, 9, 9, 9, 9, 9, 9, 9}}, ALGID: AlgAESCTR},
	{Version: Version42, KIDs: []drm.KeyID{{5}, {6}}, Checksums: [][]byte{nil, nil}, ALGID: AlgAESCTR},
	{Version: Version43, KIDs: []drm.KeyID{{7}, {8}}, Checksums: [][]byte{nil, nil}, ALGID: AlgAESCBC, LAURL: "https://x"},
}

func TestRoundTrip(t *testing.T) {
	for _, h := range headerCases {
		back, err := UnmarshalPRO(h.MarshalPRO())
		if err != nil {
			t.Fatalf("%s: %v", h.Version, err)
		}
		if back.XML() != h.XML() || back.LAURL != h.LAURL || len(back.KIDs) != len(h.KIDs) {
			t.Errorf("%s: round trip\n got %s\nwant %s", h.Version, back.XML(), h.XML())
		}
	}
	if !strings.Contains(headerCases[0].XML(), "<LA_URL>https://lic.example/pr?a=1&amp;b=&lt;2&gt;</LA_URL></DATA>") {
		t.Errorf("LA_URL not escaped: %s", headerCases[0].XML())
	}
}

func TestNewHeaderErrors(t *testing.T) {
	two := []drm.KeyID{{1}, {2}}
	if _, err := NewHeader(cenc.CENC, two, [][]byte{shakaKey, shakaKey}, ""); !errors.Is(err, ErrUnsupported) {
		t.Errorf("cenc two KIDs: %v", err)
	}
	if _, err := NewHeader(cenc.CENC, two[:1], nil, ""); !errors.Is(err, ErrKeys) {
		t.Errorf("cenc no key: %v", err)
	}
	if _, err := NewHeader(cenc.CBCS, nil, nil, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("no KIDs: %v", err)
	}
	if _, err := NewHeader(cenc.Scheme(9), two, nil, ""); !errors.Is(err, ErrUnsupported) {
		t.Errorf("bad scheme: %v", err)
	}
	h, err := NewHeader(cenc.CBCS, two, nil, "")
	if err != nil || len(h.KIDs) != 2 || h.Version != Version43 {
		t.Errorf("cbcs two KIDs: %v %+v", err, h)
	}
}

func TestUnmarshalPROErrors(t *testing.T) {
	good := headerCases[0].MarshalPRO()
	bad := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	xmlPRO := proFromXML
	cases := map[string][]byte{
		"short":         {1, 2},
		"length":        bad(func(b []byte) []byte { b[0]++; return b }),
		"record length": bad(func(b []byte) []byte { b[8] = 0xff; b[9] = 0xff; return b }),
		"no record":     {6, 0, 0, 0, 0, 0},
		"odd utf16":     {11, 0, 0, 0, 1, 0, 1, 0, 1, 0, '<'},
		"bad xml":       xmlPRO("<WRMHEADER"),
		"version":       xmlPRO(`<WRMHEADER version="5.0.0.0"><DATA></DATA></WRMHEADER>`),
		"4.0 no kid":    xmlPRO(`<WRMHEADER version="4.0.0.0"><DATA></DATA></WRMHEADER>`),
		"4.1 no kid":    xmlPRO(`<WRMHEADER version="4.1.0.0"><DATA></DATA></WRMHEADER>`),
		"bad kid":       xmlPRO(`<WRMHEADER version="4.3.0.0"><DATA><PROTECTINFO><KIDS><KID ALGID="AESCBC" VALUE="AAAA"></KID></KIDS></PROTECTINFO></DATA></WRMHEADER>`),
		"bad algid":     xmlPRO(`<WRMHEADER version="4.3.0.0"><DATA><PROTECTINFO><KIDS><KID ALGID="ROT13" VALUE="rk8d+Ox90BGnZQCgyR5r9g=="></KID></KIDS></PROTECTINFO></DATA></WRMHEADER>`),
		"bad checksum":  xmlPRO(`<WRMHEADER version="4.0.0.0"><DATA><KID>rk8d+Ox90BGnZQCgyR5r9g==</KID><CHECKSUM>!!</CHECKSUM></DATA></WRMHEADER>`),
	}
	for name, b := range cases {
		if _, err := UnmarshalPRO(b); !errors.Is(err, drm.ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzUnmarshalPRO(f *testing.F) {
	for _, h := range headerCases {
		f.Add(h.MarshalPRO())
	}
	testtools.FuzzParser(f, UnmarshalPRO, drm.ErrInvalid, func(t *testing.T, _ []byte, h Header) {
		if len(h.KIDs) == 0 {
			return // a 4.2/4.3 header may list no KIDs
		}
		back, err := UnmarshalPRO(h.MarshalPRO())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", h.XML(), err)
		}
		if len(back.KIDs) != len(h.KIDs) || back.KIDs[0] != h.KIDs[0] {
			t.Fatalf("round trip changed the KIDs")
		}
	})
}
