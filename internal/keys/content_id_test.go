package keys

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// contentIDCases is the one table of content IDs: unit test and fuzz seeds.
var contentIDCases = []struct {
	id string
	ok bool
}{
	{"movie1", true},
	{"movie-1", true},
	{"test_case_generic", true},
	{"MovieNight20171126093045", true}, // MediaPackage's example resource ID
	{"98ee5596-cd3e-a20d-163a-e382420c6eff", true},
	{"urn:uuid:98ee5596-cd3e-a20d-163a-e382420c6eff", true},
	{"series.s01e02", true},
	{"movie..", true}, // dots inside or at the end are one path component
	{strings.Repeat("x", MaxContentIDLen), true},
	{"", false},
	{".", false},
	{"..", false},
	{".hidden", false},
	{"../../x", false},
	{"a/b", false},
	{"/etc/passwd", false},
	{`..\..\x`, false},
	{"a\x00b", false},
	{"a\tb", false},
	{"a\nb", false},
	{"a\x7fb", false},
	{"a b", false},
	{"a%2fb", false},
	{"caf\u00e9", false},
	{"\xff", false},
	{strings.Repeat("x", MaxContentIDLen+1), false},
}

func TestValidateContentID(t *testing.T) {
	for _, tc := range contentIDCases {
		err := ValidateContentID(tc.id)
		if tc.ok != (err == nil) {
			t.Errorf("ValidateContentID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidContentID) {
			t.Errorf("ValidateContentID(%q) = %v, not ErrInvalidContentID", tc.id, err)
		}
		// Stores refuse the same IDs, as a key request error.
		if err := ValidateSlot(tc.id, HD, 0); tc.ok != (err == nil) || err != nil && (!errors.Is(err, ErrInvalidRequest) || !errors.Is(err, ErrInvalidContentID)) {
			t.Errorf("ValidateSlot(%q) = %v", tc.id, err)
		}
	}
}

// FuzzValidateContentID: whatever is accepted is exactly one path component
// beneath a directory (never "..", hidden, absolute or with a separator),
// bounded, printable ASCII; whatever is refused wraps ErrInvalidContentID
// with a bounded message.
func FuzzValidateContentID(f *testing.F) {
	for _, tc := range contentIDCases {
		f.Add(tc.id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateContentID(id)
		if err != nil {
			if !errors.Is(err, ErrInvalidContentID) {
				t.Fatalf("%q: %v is not ErrInvalidContentID", id, err)
			}
			if n := len(err.Error()); n > 4*MaxContentIDLen+len(ContentIDRule)+100 {
				t.Fatalf("%q: %d-byte message", id, n)
			}
			return
		}
		root := filepath.Join("data", "content")
		p := filepath.Join(root, id)
		if filepath.Dir(p) != root || filepath.Base(p) != id {
			t.Fatalf("%q: joins to %q, not one component beneath %q", id, p, root)
		}
		if id == "" || len(id) > MaxContentIDLen || id[0] == '.' || !utf8.ValidString(id) {
			t.Fatalf("%q accepted", id)
		}
		for _, r := range id {
			if r <= ' ' || r >= 0x7f || r == '/' || r == '\\' {
				t.Fatalf("%q accepted with %q", id, r)
			}
		}
	})
}
