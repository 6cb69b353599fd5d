package cenc

import (
	"encoding/hex"
	"strings"
)

// Shared fixtures and case tables: one table per format feeds the unit,
// fuzz and benchmark tests.

// Parameter sets and samples cut from 64x64 clips that ffmpeg 5.1 made
// (libx264 `-x264-params slices=2`, libx265), hex-encoded. The expected maps
// are what Shaka Packager 3.4.2 wrote into senc for the same samples
// (--protection_scheme cbcs / cenc, checked while writing these tests; the
// full clips are compared in shaka_compare_test.go).
var (
	h264SPS = unhex("6764000aacd94426c044000003000400000300f03c489658")
	h264PPS = unhex("68ebe3cb22c0")

	// Two P slices: 10 bytes with a 6-byte header (NAL header + slice header),
	// 122 bytes with a 7-byte header.
	h264TwoSlices = unhex(`0000000a419e417885bff8772e810000007a41127905e214fff043f363d02bdf95ee307a
		648854b6ac654e8883f6d8093b1315d35291660bf17fe17e3a4975a1102ba0661c8563fd3f999b4353809afd71bf
		fe5dcdb505a3947c0d3af06caad78b26ba24ce0a805d06870fdb0777a50636466c3c77db7e66ce3f3e658029b61d
		20d3fa2f14d64f5c9ebc3499`)
	// Two B slices (nal_ref_idc 0): 8 bytes (6-byte header), 101 bytes (7-byte header).
	h264TwoBSlices = unhex(`00000008019ea56a42df993b0000006501127a95a90b7ff86d489a36524fc92b4d828e7f
		d43cfc17f17e8c91902c2fdf03eceaf0d08f08ae3cd768801e3ad3f99cc943edf92de53fbf42d211a4b692607e7f
		fbb922140b23666ab3c8a8453cefecf133ed5ede41aa6a5dee199615c7d7f8158d55c1`)

	hevcVPS = unhex("40010c01ffff01600000030090000003000003001e959009")
	hevcSPS = unhex("42010101600000030090000003000003001ea020810596564924caf0168080000003008000000f04")
	hevcPPS = unhex("4401c172b42240")
	// TRAIL_N slices: 17 bytes with a 9-byte header, 28 bytes with an 8-byte header.
	hevcSmallSlice = unhex("000000110001e0e22d57f71851fedfa77959aac340")
	hevcSlice28    = unhex("0000001c0001e024bf8614c0fec501b59b956f1b1c47c3debfe68635f0c0767c")
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// nal prefixes a NAL unit with a 4-byte length.
func nal(b []byte) []byte {
	n := len(b)
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, b...)
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// filler returns a NAL unit of n bytes: header then 0xaa payload.
func filler(header []byte, n int) []byte {
	b := make([]byte, n)
	copy(b, header)
	for i := len(header); i < n; i++ {
		b[i] = 0xaa
	}
	return b
}

var (
	avcAUD    = []byte{0x09, 0xf0}                   // access unit delimiter (type 9)
	avcSEI    = filler([]byte{0x06, 0x05}, 40)       // SEI (type 6)
	avcBigSEI = filler([]byte{0x06, 0x05}, 70000)    // clear run longer than 65535
	avcFill   = filler([]byte{0x0c}, 21)             // filler data (type 12)
	hevcAUD   = []byte{0x46, 0x01, 0x10}             // AUD_NUT (35)
	hevcSEI   = filler([]byte{0x4e, 0x01, 0x05}, 30) // PREFIX_SEI_NUT (39)
)

type protectorCase struct {
	name      string
	codec     Codec
	lenSize   int
	paramSets [][]byte
	sample    []byte
	cbcs      []Subsample // want for cbcs
	cenc      []Subsample // want for cenc
}

// protectorCases: the first entries are Shaka's maps verbatim; the others
// build samples around the same slices and follow the §10.1/§10.4 rules:
// non-VCL NAL units join the clear bytes of the next entry, a sample ending
// in clear bytes gets a final (clear, 0) entry, clear runs > 65535 split.
var protectorCases = []protectorCase{
	{"h264 two P slices (Shaka)", H264, 4, [][]byte{h264SPS, h264PPS}, h264TwoSlices,
		[]Subsample{{10, 4}, {11, 115}}, []Subsample{{28, 112}}},
	{"h264 two B slices (Shaka)", H264, 4, [][]byte{h264SPS, h264PPS}, h264TwoBSlices,
		[]Subsample{{10, 2}, {11, 94}}, []Subsample{{37, 80}}},
	{"hevc small slice (Shaka)", HEVC, 4, [][]byte{hevcVPS, hevcSPS, hevcPPS}, hevcSmallSlice,
		[]Subsample{{13, 8}}, []Subsample{{21, 0}}},
	{"hevc slice (Shaka)", HEVC, 4, [][]byte{hevcVPS, hevcSPS, hevcPPS}, hevcSlice28,
		[]Subsample{{12, 20}}, []Subsample{{16, 16}}},
	{"h264 AUD+SEI before, filler after", H264, 4, [][]byte{h264SPS, h264PPS},
		concat(nal(avcAUD), nal(avcSEI), h264TwoSlices, nal(avcFill)),
		[]Subsample{{6 + 44 + 10, 4}, {11, 115}, {25, 0}},
		[]Subsample{{6 + 44 + 28, 112}, {25, 0}}},
	{"h264 clear run over 65535", H264, 4, [][]byte{h264SPS, h264PPS},
		concat(nal(avcBigSEI), h264TwoSlices),
		[]Subsample{{65535, 0}, {70004 + 10 - 65535, 4}, {11, 115}},
		[]Subsample{{65535, 0}, {70004 + 28 - 65535, 112}}},
	{"h264 only non-VCL", H264, 4, nil, concat(nal(avcAUD), nal(avcSEI)),
		[]Subsample{{50, 0}}, []Subsample{{50, 0}}},
	{"h264 in-band SPS/PPS", H264, 4, nil,
		concat(nal(h264SPS), nal(h264PPS), h264TwoSlices),
		[]Subsample{{4 + 24 + 4 + 6 + 10, 4}, {11, 115}},
		[]Subsample{{4 + 24 + 4 + 6 + 28, 112}}},
	{"h264 2-byte lengths", H264, 2, [][]byte{h264SPS, h264PPS},
		[]byte{0, 10, 0x41, 0x9e, 0x41, 0x78, 0x85, 0xbf, 0xf8, 0x77, 0x2e, 0x81},
		[]Subsample{{8, 4}}, []Subsample{{12, 0}}},
	{"hevc AUD+SEI, VPS/SPS/PPS in-band", HEVC, 4, nil,
		concat(nal(hevcAUD), nal(hevcVPS), nal(hevcSPS), nal(hevcPPS), nal(hevcSEI), hevcSlice28),
		[]Subsample{{7 + 28 + 44 + 11 + 34 + 12, 20}},
		[]Subsample{{7 + 28 + 44 + 11 + 34 + 16, 16}}},
	{"hevc 1-byte lengths, zero-length NAL", HEVC, 1, [][]byte{hevcVPS, hevcSPS, hevcPPS},
		append([]byte{0, 28}, hevcSlice28[4:]...),
		[]Subsample{{10, 20}}, []Subsample{{14, 16}}},
	{"empty sample", H264, 4, nil, nil, nil, nil},
}

// badSamples must be refused with ErrBadSample.
var badSamples = []struct {
	name      string
	codec     Codec
	paramSets [][]byte
	sample    []byte
}{
	{"NAL length past the end", H264, nil, []byte{0, 0, 0, 9, 0x09, 0xf0}},
	{"trailing bytes shorter than a length field", H264, nil, concat(nal(avcAUD), []byte{0, 0})},
	{"slice without its PPS", H264, nil, h264TwoSlices},
	{"hevc slice without its PPS", HEVC, nil, hevcSlice28},
	{"truncated hevc slice header", HEVC, [][]byte{hevcVPS, hevcSPS, hevcPPS}, nal(hevcSlice28[4:8])},
	{"bad in-band SPS", H264, nil, nal([]byte{0x67, 0xff})},
}
