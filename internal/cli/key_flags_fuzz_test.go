package cli

import (
	"bytes"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/keys"
)

// keyHexRun finds runs of hex digits long enough to be (part of) a key.
var keyHexRun = regexp.MustCompile(`[0-9a-fA-F]{16,}`)

// FuzzParseKeyFlag checks --key parsing on any value: it never panics; a
// refusal wraps errKeyFlag and names no hex run of 16 digits or more that
// only follows a ':' (where the key is written: the content key must never
// reach a terminal or a CI log); an accepted value written back as
// TYPE=KID:KEY parses to the same track type, KID and key. The committed
// corpus (testdata/fuzz/FuzzParseKeyFlag) holds the --key cases of
// TestPackageArgs and values with the key before a '='.
func FuzzParseKeyFlag(f *testing.F) {
	for _, s := range []string{
		testKID + ":" + testKey, "HD=" + testKID + ":" + testKey, "4K=" + testKID + ":" + testKey,
		testKID + ":0011", "0011:" + testKey, testKID + ":zz", testKID + ":" + testKey + "=HD", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tt, k, err := parseKeyFlag(s)
		if err != nil {
			if !errors.Is(err, errKeyFlag) {
				t.Fatalf("error does not wrap errKeyFlag: %v", err)
			}
			if i := strings.IndexByte(s, ':'); i >= 0 {
				for _, run := range keyHexRun.FindAllString(s[i+1:], -1) {
					msg, run := strings.ToLower(err.Error()), strings.ToLower(run)
					if strings.Contains(msg, run) && !strings.Contains(strings.ToLower(s[:i]), run) {
						t.Fatalf("error names key digits %s: %v", run, err)
					}
				}
			}
			return
		}
		if len(k.Key) != 16 {
			t.Fatalf("accepted a %d-byte key", len(k.Key))
		}
		canon := k.KID.Hex() + ":" + hex.EncodeToString(k.Key)
		if tt != keys.All {
			canon = tt.String() + "=" + canon
		}
		tt2, k2, err := parseKeyFlag(canon)
		if err != nil || tt2 != tt || k2.KID != k.KID || !bytes.Equal(k2.Key, k.Key) {
			t.Fatalf("%q -> %q: %v %v %v", s, canon, tt2, k2.KID, err)
		}
	})
}
