package testtools

import (
	"encoding/hex"
	"strings"
	"testing"
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
