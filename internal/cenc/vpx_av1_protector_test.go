package cenc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
)

// Maps of real AV1 and VP9 streams are compared byte for byte with Shaka
// Packager's in shaka_compare_test.go; these cases pin the rules on small
// hand-made samples and the errors on broken ones.

// bitWriter builds test bitstreams MSB first.
type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) put(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>uint(i)&1 != 0 {
			w.b[len(w.b)-1] |= 0x80 >> uint(w.n%8)
		}
		w.n++
	}
}

// vp9KeyFrame returns a profile 0 key frame of size bytes whose uncompressed
// header (VP9 Bitstream §6.2) is hdr bytes long; the rest stands for the
// compressed header and tile data.
func vp9KeyFrame(t testing.TB, width, height uint64, size int) (frame []byte, hdr int) {
	t.Helper()
	var w bitWriter
	w.put(2, 2)           // frame_marker
	w.put(0, 2)           // profile 0
	w.put(0, 1)           // show_existing_frame
	w.put(0, 1)           // frame_type KEY_FRAME
	w.put(1, 1)           // show_frame
	w.put(0, 1)           // error_resilient_mode
	w.put(0x498342, 24)   // frame_sync_code
	w.put(2, 3)           // color_space CS_BT_709
	w.put(0, 1)           // color_range
	w.put(width-1, 16)    // frame_width_minus_1
	w.put(height-1, 16)   // frame_height_minus_1
	w.put(0, 1)           // render_and_frame_size_different
	w.put(1, 1)           // refresh_frame_context
	w.put(1, 1)           // frame_parallel_decoding_mode
	w.put(0, 2)           // frame_context_idx
	w.put(10, 6)          // filter_level
	w.put(0, 3)           // sharpness_level
	w.put(1, 1)           // mode_ref_delta_enabled
	w.put(1, 1)           // mode_ref_delta_update
	w.put(0b1_1000001, 8) // update_ref_delta[0] = 1, su(6) = -1... (7 bits)
	w.put(0, 5)           // update_ref_delta[1..3], update_mode_delta[0..1] = 0
	w.put(60, 8)          // base_q_idx
	w.put(0, 3)           // delta_coded y_dc, uv_dc, uv_ac
	w.put(0, 1)           // segmentation_enabled
	if width >= 512 {
		w.put(0, 1) // increment_tile_cols_log2 (maxLog2TileCols > 0 from 512 px)
	}
	w.put(0, 1) // tile_rows_log2
	hdr = (w.n + 16 + 7) / 8
	w.put(uint64(size-hdr), 16) // header_size_in_bytes: all the rest
	frame = make([]byte, size)
	copy(frame, w.b)
	for i := hdr; i < size; i++ {
		frame[i] = byte(i)
	}
	return frame, hdr
}

// vp9Superframe joins frames with a superframe index (VP9 Bitstream Annex
// B) using 2-byte sizes.
func vp9Superframe(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, f...)
	}
	marker := byte(0xc0 | 1<<3 | (len(frames) - 1))
	out = append(out, marker)
	for _, f := range frames {
		out = append(out, byte(len(f)), byte(len(f)>>8))
	}
	return append(out, marker)
}

func TestVP9Subsamples(t *testing.T) {
	key, hdr := vp9KeyFrame(t, 320, 180, 300)
	wide, wideHdr := vp9KeyFrame(t, 1280, 720, 200)
	showExisting := []byte{0x88} // frame_marker 2, profile 0, show_existing_frame 1, idx 0
	super := vp9Superframe(key, showExisting)
	cases := []struct {
		name   string
		sample []byte
		want   []Subsample
	}{
		// Protected data trimmed to whole blocks for both schemes (VP codec binding).
		{"key frame", key, []Subsample{{uint16(hdr + (300-hdr)%16), uint32(300 - hdr - (300-hdr)%16)}}},
		{"tile bits", wide, []Subsample{{uint16(wideHdr + (200-wideHdr)%16), uint32(200 - wideHdr - (200-wideHdr)%16)}}},
		// A shown-existing frame and the 6-byte index stay clear.
		{"superframe", super, []Subsample{{uint16(hdr + (300-hdr)%16), uint32(300 - hdr - (300-hdr)%16)}, {1 + 6, 0}}},
	}
	if hdr != 16 || wideHdr != 16 { // 126 and 127 bits
		t.Fatalf("test frames: uncompressed headers of %d and %d bytes, want 16", hdr, wideHdr)
	}
	for _, scheme := range []Scheme{CBCS, CENC} {
		for _, c := range cases {
			p, err := NewVP9Protector(scheme)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Subsamples([]Subsample{{9, 9}}, c.sample)
			if err != nil {
				t.Fatalf("%s/%v: %v", c.name, scheme, err)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("%s/%v: got %v, want %v", c.name, scheme, got, c.want)
			}
		}
	}
}

func TestVP9SubsamplesBadSample(t *testing.T) {
	key, _ := vp9KeyFrame(t, 320, 180, 300)
	short, _ := vp9KeyFrame(t, 320, 180, 300)
	short = short[:20] // header_size_in_bytes runs past the end
	badSizes := vp9Superframe(key, key)
	badSizes[len(badSizes)-5]++ // first frame size one too big
	// An inter frame whose size comes from reference slot 0 (found_ref),
	// which no key frame has set.
	inter := append([]byte{0x86, 0x3f, 0xc0, 0x02}, make([]byte, 40)...)
	cases := map[string][]byte{
		"empty":                    {},
		"frame marker":             bytes.Repeat([]byte{0x00}, 40),
		"no sync code":             append([]byte{0x80, 0x00, 0x00, 0x00}, make([]byte, 40)...),
		"header size past the end": short,
		"superframe sizes":         badSizes,
		"inter frame first":        inter,
	}
	for name, sample := range cases {
		p, _ := NewVP9Protector(CBCS)
		subs, err := p.Subsamples(nil, sample)
		if !errors.Is(err, ErrBadSample) {
			t.Errorf("%s: got %v, %v; want ErrBadSample", name, subs, err)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
}

// av1SeqHeader is the configOBUs of an SVT-AV1 320x180 stream (one
// sequence header OBU).
var av1SeqHeader = mustHex("0a0b000000043cfecc02f80040")

func TestAV1Subsamples(t *testing.T) {
	p, err := NewAV1Protector(CENC, av1SeqHeader)
	if err != nil {
		t.Fatal(err)
	}
	// Temporal delimiter, metadata and padding OBUs are clear (AV1-ISOBMFF
	// §"Common Encryption"): one clear entry.
	sample, _ := hex.DecodeString("1200" + "2a03" + "040102" + "7a02" + "aaaa")
	got, err := p.Subsamples(nil, sample)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Subsample{{uint16(len(sample)), 0}}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestAV1SubsamplesErrors(t *testing.T) {
	if _, err := NewAV1Protector(CBCS, []byte{0x0a, 0x05, 0xff}); !errors.Is(err, ErrParameterSet) {
		t.Errorf("bad configOBUs: %v, want ErrParameterSet", err)
	}
	if _, err := NewAV1Protector(Scheme(99), nil); !errors.Is(err, ErrUnknownScheme) {
		t.Errorf("bad scheme: %v", err)
	}
	noSeq, err := NewAV1Protector(CBCS, nil)
	if err != nil {
		t.Fatal(err)
	}
	frame := mustHex("32" + "05" + "1000000000")
	if _, err := noSeq.Subsamples(nil, frame); !errors.Is(err, ErrBadSample) {
		t.Errorf("frame without a sequence header: %v, want ErrBadSample", err)
	}
	p, err := NewAV1Protector(CBCS, av1SeqHeader)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string][]byte{
		"OBU size past the end": mustHex("3210aabb"),
		"forbidden bit":         mustHex("b200"),
		"truncated frame":       mustHex("3202" + "10ff"),
	} {
		if subs, err := p.Subsamples(nil, s); !errors.Is(err, ErrBadSample) {
			t.Errorf("%s: got %v, %v; want ErrBadSample", name, subs, err)
		}
	}
}

// FuzzSubsamplesAV1VP9: on arbitrary bytes the AV1 and VP9 protectors never
// panic, errors wrap ErrBadSample, and a map covers the sample exactly, with
// whole blocks where the rules ask for them.
func FuzzSubsamplesAV1VP9(f *testing.F) {
	key, _ := vp9KeyFrame(f, 320, 180, 300)
	f.Add(key, uint8(0))
	f.Add(vp9Superframe(key, []byte{0x88}), uint8(0))
	f.Add(append(bytes.Clone(av1SeqHeader), mustHex("3205100000aabb")...), uint8(1))
	f.Add(mustHex("1200"+"2a03040102"), uint8(3))
	f.Fuzz(func(t *testing.T, sample []byte, sel uint8) {
		scheme := CBCS
		if sel&2 != 0 {
			scheme = CENC
		}
		var p Protector
		var err error
		if sel&1 == 0 {
			p, err = NewVP9Protector(scheme)
		} else {
			p, err = NewAV1Protector(scheme, av1SeqHeader)
		}
		if err != nil {
			t.Fatal(err)
		}
		subs, ok := fuzzSubsamples(t, p, sample)
		if !ok {
			return
		}
		aligned := scheme == CENC || sel&1 == 0
		for i, ss := range subs {
			if aligned && ss.Protected%16 != 0 {
				t.Fatalf("entry %d of %v not block aligned", i, subs)
			}
		}
	})
}
