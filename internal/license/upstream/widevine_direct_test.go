package upstream

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// TestSignWidevineVector checks the AES signer against a signature made
// independently with the public widevine_test credentials published in Shaka
// Packager's docs: `openssl dgst -sha1 -binary | openssl enc -aes-256-cbc
// -K key -iv iv` over the request JSON gives the expected base64.
func TestSignWidevineVector(t *testing.T) {
	key, _ := hex.DecodeString("1ae8ccd0e7985cc0b6203a55855a1034afc252980e970ca90e5202689f947ab9")
	iv, _ := hex.DecodeString("d58ce954203b7c9a9a9d467f59839249")
	msg := `{"content_id":"dGVzdCBjb250ZW50IGlk","policy":"","tracks":[{"type":"SD"},{"type":"HD"},{"type":"UHD1"},{"type":"UHD2"},{"type":"AUDIO"}],"drm_types":["WIDEVINE"],"protection_scheme":"CENC"}`
	sig, err := SignWidevine(key, iv, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.StdEncoding.EncodeToString(sig); got != "6D7aXKgIsgmb3zpWS4LCROsYbT4CAZhJTI8ZTa2ykSM=" {
		t.Errorf("signature %s", got)
	}
	// A different message must not give the same signature.
	sig2, _ := SignWidevine(key, iv, []byte(msg+" "))
	if string(sig2) == string(sig) {
		t.Error("signature independent of the message")
	}
	if _, err := SignWidevine(key[:5], iv, nil); err == nil {
		t.Error("short key accepted")
	}
}
