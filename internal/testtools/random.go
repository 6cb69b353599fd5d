package testtools

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// RandomBytes returns n bytes from crypto/rand; a failed read fails the test.
func RandomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// RandomHex returns n random bytes in lower-case hex (2n characters).
func RandomHex(t testing.TB, n int) string {
	t.Helper()
	return hex.EncodeToString(RandomBytes(t, n))
}
