package cpix

import (
	"reflect"
	"testing"
)

// FuzzUnmarshal checks that Unmarshal never panics and that whatever it
// accepts survives Marshal and a second Unmarshal unchanged. The committed
// corpus (testdata/fuzz/FuzzUnmarshal) holds the SPEKE fixtures and the
// unsafe documents of badDocs.
func FuzzUnmarshal(f *testing.F) {
	for _, name := range []string{"speke_v1_live_request.xml", "speke_v1_live_response.xml", "speke_v2_request.xml"} {
		f.Add(readFixture(f, name))
	}
	for _, c := range badDocs {
		f.Add([]byte(c.doc))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := UnmarshalLimited(b, Limits{MaxBytes: 64 << 10})
		if err != nil {
			return
		}
		if d2 := remarshal(t, d); !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip differs:\n%#v\n%#v", d, d2)
		}
	})
}
