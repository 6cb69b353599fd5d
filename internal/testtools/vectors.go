package testtools

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// Unhex decodes s, hex digits that white space may split into groups (the
// way spec vectors are printed); s that is not hex fails t.
func Unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ASCIIKID is the KeyID whose bytes are those of s, the way test vectors
// write a KID as 16 ASCII characters ("keyid1~~~~~~~~~~").
func ASCIIKID(s string) drm.KeyID {
	var k drm.KeyID
	copy(k[:], s)
	return k
}
