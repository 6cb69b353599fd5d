package media

import (
	"slices"
	"testing"
)

// TestParseStz2 checks the CompactSampleSizeBox layouts of ISO/IEC 14496-12
// §8.7.3.3 (4-bit entries are packed high nibble first).
func TestParseStz2(t *testing.T) {
	head := func(field byte, count byte) []byte {
		return []byte{0, 0, 0, 0, 0, 0, 0, field, 0, 0, 0, count}
	}
	cases := []struct {
		name    string
		payload []byte
		want    []uint32
		wantErr bool
	}{
		{"4bit_odd", append(head(4, 3), 0x12, 0x30), []uint32{1, 2, 3}, false},
		{"8bit", append(head(8, 2), 200, 7), []uint32{200, 7}, false},
		{"16bit", append(head(16, 2), 0x01, 0x02, 0xff, 0xff), []uint32{258, 65535}, false},
		{"bad_field_size", append(head(12, 1), 0, 0), nil, true},
		{"short_entries", append(head(16, 3), 0, 1), nil, true},
		{"short_header", []byte{0, 0, 0}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseStz2(c.payload)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestEnumStrings(t *testing.T) {
	for v, want := range map[interface{ String() string }]string{
		Video: "video", Audio: "audio", Kind(9): "Kind(9)",
		H264: "h264", HEVC: "hevc", AAC: "aac", AC3: "ac-3", EAC3: "ec-3", Codec(0): "Codec(0)",
	} {
		if got := v.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", v, got, want)
		}
	}
}
