package drm_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// W3C EME "Common SystemID and PSSH Box Format" example (format-registry
// initdata/cenc-respec.html): two KIDs "0123456789012345" and
// "ABCDEFGHIJKLMNOP", 68-byte box.
const w3cCommonPSSH = `00000044 70737368 01000000
	1077efecc0b24d02ace33c1e52e2fb4b 00000002
	30313233343536373839303132333435
	4142434445464748494a4b4c4d4e4f50 00000000`

func TestCommonPSSHW3CVector(t *testing.T) {
	want := testtools.Unhex(t, w3cCommonPSSH)
	got := drm.CommonPSSH([]drm.KeyID{testtools.ASCIIKID("0123456789012345"), testtools.ASCIIKID("ABCDEFGHIJKLMNOP")}).Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("common pssh:\n got %x\nwant %x", got, want)
	}
	p, err := drm.UnmarshalPSSH(want)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 1 || p.SystemID != drm.CommonSystemID || len(p.KIDs) != 2 || p.KIDs[1] != testtools.ASCIIKID("ABCDEFGHIJKLMNOP") || len(p.Data) != 0 {
		t.Fatalf("parsed %+v", p)
	}
}

// Shaka Packager packager/media/base/pssh_generator_unittest.cc
// kExpectedCommonPssh: KIDs "keyid1~~~~~~~~~~" and "keyid2~~~~~~~~~~".
func TestCommonPSSHShakaVector(t *testing.T) {
	want := append(testtools.Unhex(t, "00000044 70737368 01000000 1077efecc0b24d02ace33c1e52e2fb4b 00000002"),
		[]byte("keyid1~~~~~~~~~~keyid2~~~~~~~~~~\x00\x00\x00\x00")...)
	got := drm.CommonPSSH([]drm.KeyID{testtools.ASCIIKID("keyid1~~~~~~~~~~"), testtools.ASCIIKID("keyid2~~~~~~~~~~")}).Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
}

// psshCases is the shared case table for unit and fuzz tests.
var psshCases = []drm.PSSH{
	{Version: 0, SystemID: drm.WidevineSystemID, Data: []byte{0x12, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
	{Version: 0, SystemID: drm.PlayReadySystemID, Data: nil},
	{Version: 1, SystemID: drm.CommonSystemID, KIDs: []drm.KeyID{{1}, {2}, {3}}},
	{Version: 1, SystemID: drm.WidevineSystemID, KIDs: []drm.KeyID{{0xff}}, Data: []byte("data")},
}

func TestPSSHRoundTrip(t *testing.T) {
	var all []byte
	for i, c := range psshCases {
		b := c.Marshal()
		if len(b) != c.Size() {
			t.Errorf("case %d: Size %d, marshalled %d", i, c.Size(), len(b))
		}
		p, err := drm.UnmarshalPSSH(b)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Errorf("case %d: round trip differs", i)
		}
		all = append(all, b...)
	}
	ps, err := drm.UnmarshalPSSHs(all)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(psshCases) {
		t.Fatalf("got %d boxes, want %d", len(ps), len(psshCases))
	}
	for i := range ps {
		if ps[i].SystemID != psshCases[i].SystemID || len(ps[i].KIDs) != len(psshCases[i].KIDs) {
			t.Errorf("box %d: %+v", i, ps[i])
		}
	}
}

func TestUnmarshalPSSHErrors(t *testing.T) {
	good := psshCases[3].Marshal()
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"empty":        {nil, "need at least 8"},
		"wrong type":   {append(append([]byte{}, good[:4]...), append([]byte("moov"), good[8:]...)...), `box type "moov"`},
		"short":        {good[:len(good)-1], "pssh box size"},
		"trailing":     {append(append([]byte{}, good...), 0), "pssh box size"},
		"version 2":    {func() []byte { b := append([]byte{}, good...); b[8] = 2; return b }(), "unsupported version 2"},
		"kid count":    {func() []byte { b := append([]byte{}, good...); b[31] = 9; return b }(), "KID_count 9"},
		"data size":    {func() []byte { b := append([]byte{}, good...); b[51] = 5; return b }(), "DataSize 5"},
		"tiny size":    {[]byte{0, 0, 0, 4, 'p', 's', 's', 'h'}, "smaller than its header"},
		"short body":   {[]byte{0, 0, 0, 12, 'p', 's', 's', 'h', 0, 0, 0, 0}, "too short"},
		"large trunc":  {[]byte{0, 0, 0, 1, 'p', 's', 's', 'h', 0}, "64-bit"},
		"missing size": {append(testtools.Unhex(t, "00000020 70737368 01000000"), make([]byte, 20)...), "missing DataSize"},
	}
	for name, c := range cases {
		_, err := drm.UnmarshalPSSH(c.b)
		if !errors.Is(err, drm.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrInvalid containing %q", name, err, c.want)
		}
	}
	if _, err := drm.UnmarshalPSSHs(append(append([]byte{}, good...), good[:20]...)); !errors.Is(err, drm.ErrInvalid) {
		t.Errorf("truncated second box: %v", err)
	}
}

func TestPSSHLargeSize(t *testing.T) {
	// A 64-bit largesize header (ISO/IEC 14496-12 §4.2) is accepted.
	small := psshCases[0].Marshal()
	b := append([]byte{0, 0, 0, 1, 'p', 's', 's', 'h', 0, 0, 0, 0, 0, 0, 0, 0}, small[8:]...)
	b[15] = byte(len(b))
	p, err := drm.UnmarshalPSSH(b)
	if err != nil || !bytes.Equal(p.Data, psshCases[0].Data) {
		t.Fatalf("largesize: %v %+v", err, p)
	}
}

func FuzzUnmarshalPSSH(f *testing.F) {
	for _, c := range psshCases {
		f.Add(c.Marshal())
	}
	f.Add(testtools.Unhex(f, w3cCommonPSSH))
	testtools.FuzzParser(f, drm.UnmarshalPSSH, drm.ErrInvalid, func(t *testing.T, b []byte, p drm.PSSH) {
		// Re-marshalling a parsed box gives an equivalent box.
		q, err := drm.UnmarshalPSSH(p.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if q.SystemID != p.SystemID || !bytes.Equal(q.Data, p.Data) || len(q.KIDs) != len(p.KIDs) {
			t.Fatalf("round trip changed the box")
		}
		if _, err := drm.UnmarshalPSSHs(b); err != nil && !errors.Is(err, drm.ErrInvalid) {
			t.Fatalf("UnmarshalPSSHs: %v", err)
		}
	})
}
