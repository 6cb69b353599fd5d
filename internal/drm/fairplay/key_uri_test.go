package fairplay

import (
	"errors"
	"testing"

	"github.com/drmpipe/drmpipe/internal/drm"
)

func TestKeyURI(t *testing.T) {
	kid, _ := drm.ParseKeyID("00112233-4455-6677-8899-AABBCCDDEEFF")
	cases := []struct{ template, want string }{
		// Shaka Packager's documented default form: skd:// + lowercase hex KID
		// (packager/hls/base/simple_hls_notifier.cc).
		{"", "skd://00112233445566778899aabbccddeeff"},
		{"skd://fps.ezdrm.com/;{kid_uuid}", "skd://fps.ezdrm.com/;00112233-4455-6677-8899-aabbccddeeff"},
		{"skd://keys.example/{kid}?x=1", "skd://keys.example/00112233445566778899aabbccddeeff?x=1"},
		{"skd://test", "skd://test"},
	}
	for _, c := range cases {
		got := KeyURI(c.template, kid)
		if got != c.want {
			t.Errorf("KeyURI(%q) = %q, want %q", c.template, got, c.want)
		}
		if err := ValidateKeyURI(got); err != nil {
			t.Errorf("ValidateKeyURI(%q): %v", got, err)
		}
	}
	for _, bad := range []string{"", "skd://", "https://keys.example/k", "data:text/plain;base64,AAAA"} {
		if err := ValidateKeyURI(bad); !errors.Is(err, ErrInvalidKeyURI) {
			t.Errorf("ValidateKeyURI(%q) = %v", bad, err)
		}
	}
}
