package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestContentIDRefused gives every command that takes a content ID IDs
// outside keys.ValidateContentID's rule: each fails naming the flag and the
// rule, and nothing is written outside the data directory (the traversal
// ../../x would otherwise land beside it).
func TestContentIDRefused(t *testing.T) {
	clip := testtools.SampleClip(t)
	top := t.TempDir()
	dataDir := filepath.Join(top, "a", "data")
	data := "--data=" + dataDir
	key := "--key=" + testKID + ":" + testKey
	conf := filepath.Join(t.TempDir(), "drmpipe.yaml")
	if err := os.WriteFile(conf, []byte("keys:\n  broker_hmac_key: \""+strings.Repeat("5a", 32)+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../../x", "/tmp/abs", "..", ".hidden", "a/b", "a\x00b", ""} {
		for _, args := range [][]string{
			{"package", "-q", data, "--content-id", id, key, clip},
			{"package", "-q", data, "--content-id", id, clip},
			{"package", "-q", data, "-o", filepath.Join(top, "out"), "--content-id", id, clip},
			{"keys", "create", data, "--content-id", id},
			{"keys", "list", data, "--content-id", id},
			{"keys", "export", data, "--cpix", "--plain", "--content-id", id},
			{"keys", "broker-url", data, "--config=" + conf, "--content-id", id},
			{"token", data, "--content", id, "--user", "alice"},
		} {
			code, stdout, stderr := run(t, args...)
			if code == 0 {
				t.Errorf("%q: exit 0 (%s)", args, stdout)
				continue
			}
			if !strings.Contains(stderr, "invalid content ID") || !strings.Contains(stderr, "--content") {
				t.Errorf("%q: stderr %q does not name the flag and the rule", args, stderr)
			}
		}
	}
	for _, p := range []string{filepath.Join(top, "x"), filepath.Join(top, "a", "x"), filepath.Join(top, "out"), "/tmp/abs"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s written", p)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(top, ".x*")); len(left) > 0 {
		t.Errorf("staging left: %v", left)
	}
	// A valid ID still works.
	if code, _, stderr := run(t, "keys", "create", data, "--content-id", "urn:uuid:98ee5596-cd3e-a20d-163a-e382420c6eff"); code != 0 {
		t.Fatalf("valid content ID: %s", stderr)
	}
}
