package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// secretSet collects everything a deployment must never write to a log
// (content keys, playback tokens, API keys, vendor credentials) and the
// logs to check. Issue 6: "no secrets ever (a test scans logs of a full run
// for key and token material)"; issue 3: the database file and all logs
// hold no generated key in hex or base64.
type secretSet struct {
	mu       sync.Mutex
	needles  []needle
	logs     []logSource
	contents map[string]bool
}

// needle is one encoding of one secret.
type needle struct {
	what  string // "content key (hex)", ... never the value
	value []byte
	// inDB: also searched in the key database (content keys only).
	inDB bool
}

type logSource struct {
	name  string
	bytes func() []byte
}

func newSecretSet() *secretSet { return &secretSet{contents: map[string]bool{}} }

// addKey registers a 16-byte content key in every encoding a careless log
// line could use: raw, hex (lower and upper), base64 and base64url, padded
// and unpadded.
func (s *secretSet) addKey(key []byte) {
	if len(key) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	add := func(what, v string) {
		s.needles = append(s.needles, needle{what: "content key (" + what + ")", value: []byte(v), inDB: true})
	}
	s.needles = append(s.needles, needle{what: "content key (raw bytes)", value: append([]byte(nil), key...), inDB: true})
	add("hex", hex.EncodeToString(key))
	add("HEX", strings.ToUpper(hex.EncodeToString(key)))
	add("base64", base64.StdEncoding.EncodeToString(key))
	add("base64 unpadded", base64.RawStdEncoding.EncodeToString(key))
	add("base64url", base64.URLEncoding.EncodeToString(key))
	add("base64url unpadded", base64.RawURLEncoding.EncodeToString(key))
}

// addString registers a token-like secret. A JWT is also searched by its
// signature alone (a truncated token in a log is still a leak of it).
func (s *secretSet) addString(what, v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.needles = append(s.needles, needle{what: what, value: []byte(v)})
	if parts := strings.Split(v, "."); len(parts) == 3 && len(parts[2]) >= 16 {
		s.needles = append(s.needles, needle{what: what + " (signature)", value: []byte(parts[2])})
	}
	if strings.HasPrefix(v, "dp_") && len(v) > 20 {
		// API key: "dp_" + public ID + "_" + secret; the ID may be logged.
		s.needles = append(s.needles, needle{what: what + " (secret part)", value: []byte(v[20:])})
	}
}

func (s *secretSet) addLog(name string, b func() []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, logSource{name, b})
}

func (s *secretSet) addContentID(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contents[id] = true
}

func (s *secretSet) contentIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.contents {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// finding is one secret found in one source; it never holds the secret.
type finding struct{ source, what string }

// scan returns what of the registered secrets occurs in data.
func (s *secretSet) scan(source string, data []byte, dbOnly bool) []finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []finding
	for _, n := range s.needles {
		if dbOnly && !n.inDB {
			continue
		}
		if bytes.Contains(data, n.value) {
			out = append(out, finding{source, n.what})
		}
	}
	return out
}

// scanAll checks every registered log and the key database files under
// dataDir; it fails the test for each secret found.
func (s *secretSet) scanAll(t *testing.T, dataDir string) {
	t.Helper()
	s.mu.Lock()
	logs := append([]logSource(nil), s.logs...)
	n := len(s.needles)
	s.mu.Unlock()
	if n == 0 {
		return
	}
	var found []finding
	for _, l := range logs {
		found = append(found, s.scan(l.name, l.bytes(), false)...)
	}
	dbs, _ := filepath.Glob(filepath.Join(dataDir, "*.db*"))
	for _, db := range dbs {
		b, err := os.ReadFile(db)
		if err != nil {
			t.Errorf("read %s: %v", filepath.Base(db), err)
			continue
		}
		found = append(found, s.scan(filepath.Base(db), b, true)...)
	}
	t.Logf("secret scan: %d secret encodings in %d logs and %d database files", n, len(logs), len(dbs))
	for _, f := range found {
		t.Errorf("SECRET LEAK: %s found in %s", f.what, f.source)
	}
}

// TestSecretScanFindsPlantedSecrets proves the scanner would see a leak in
// each encoding, so a clean scan means something.
func TestSecretScanFindsPlantedSecrets(t *testing.T) {
	t.Parallel()
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	token := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
	s := newSecretSet()
	s.addKey(key)
	s.addString("playback token", token)
	s.addString("API key", "dp_0123456789abcdef_"+strings.Repeat("A", 43))

	clean := []byte(`{"level":"INFO","msg":"request","path":"/license/clearkey","status":200}`)
	if f := s.scan("clean", clean, false); len(f) != 0 {
		t.Fatalf("false positives on a clean log: %v", f)
	}
	plants := map[string]string{
		"hex":                 hex.EncodeToString(key),
		"HEX":                 strings.ToUpper(hex.EncodeToString(key)),
		"base64":              base64.StdEncoding.EncodeToString(key),
		"base64url unpadded":  base64.RawURLEncoding.EncodeToString(key),
		"raw":                 string(key),
		"token":               token,
		"token signature":     "sig=" + token[strings.LastIndex(token, ".")+1:],
		"API key secret part": "secret " + strings.Repeat("A", 43),
	}
	for name, p := range plants {
		line := []byte(fmt.Sprintf(`{"level":"ERROR","msg":"oops","detail":%q}`, p))
		if name == "raw" {
			line = append([]byte(`{"msg":"`), append([]byte(p), '"', '}')...)
		}
		if f := s.scan("planted", line, false); len(f) == 0 {
			t.Errorf("planted %s not found", name)
		}
	}

}
