package testtools

import (
	"errors"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// FuzzParser fuzzes parse over the corpus of f (seeded by the caller): an
// input parse refuses must fail with an error that wraps refusal; an input
// it accepts goes to accepted with what parse made of it, which checks
// what the parser promises (usually that the value marshals and parses
// back unchanged).
func FuzzParser[T any](f *testing.F, parse func([]byte) (T, error), refusal error, accepted func(t *testing.T, b []byte, v T)) {
	f.Helper()
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parse(b)
		if err != nil {
			if !errors.Is(err, refusal) {
				t.Fatalf("error not wrapping %q: %v", refusal, err)
			}
			return
		}
		accepted(t, b, v)
	})
}

// ParsePSSH parses raw as a whole pssh box (ISO/IEC 23001-7 §8.1) and its
// Data with parseData, the parser of the DRM system's own part; either
// failing fails t.
func ParsePSSH[T any](t testing.TB, raw []byte, parseData func([]byte) (T, error)) (drm.PSSH, T) {
	t.Helper()
	box, err := drm.UnmarshalPSSH(raw)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseData(box.Data)
	if err != nil {
		t.Fatal(err)
	}
	return box, d
}
