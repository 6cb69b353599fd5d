package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
)

// FuzzLoad loads any YAML file and checks what an operator sees: Load and
// Validate never panic and finish within a second; a refusal wraps ErrLoad
// or ErrInvalid; a value under a secret key (Options) is named neither in
// those errors nor in Print's output; and Print's output (the effective
// configuration of drmpipe config check) loads back and prints the same.
// The committed corpus (testdata/fuzz/FuzzLoad) holds the example file,
// the files of the package's tests and malformed YAML.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(example), validDemo,
		"server:\n  listen: \"127.0.0.1:1111\"\n  read_timeout: 11s\n  demo: true\ntokens:\n  algorithms: [ES256, RS256, EdDSA]\n",
		"redis:\n  addr: 127.0.0.1:6379\n  password: s3cret-redis-pass\nkeys:\n  broker_hmac_key: not-hex-not-base64!!\n",
		"store:\n  dsn: postgres://drm:pg-pass-123456@db.example/keys?sslmode=disable\n",
		"license:\n  upstreams:\n    widevine:\n      type: widevine-direct\n      credentials:\n        key: zz-not-a-hex-key-zz\n        headers:\n          X-Api-Key: vendor-header-secret\n",
		"server: [\n", "a: &a [*a, *a]\n", "server:\n  unknown_key: 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		dir := t.TempDir()
		load := func(b []byte) (*Config, error, error, string) { //nolint:staticcheck // the load and the validation error, then the printed config
			p := filepath.Join(dir, "drmpipe.yaml")
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			defer func() {
				if el := time.Since(start); el > time.Second {
					t.Fatalf("%d-byte file took %s", len(b), el)
				}
			}()
			cfg, err := Load(p, []string{}, nil)
			if err != nil {
				return nil, err, nil, ""
			}
			var out bytes.Buffer
			if err := Print(&out, cfg); err != nil {
				t.Fatalf("Print: %v", err)
			}
			return cfg, nil, cfg.Validate(), out.String()
		}
		cfg, lerr, verr, printed := load(doc)
		if lerr != nil && !errors.Is(lerr, ErrLoad) {
			t.Fatalf("Load error does not wrap ErrLoad: %v", lerr)
		}
		if verr != nil && !errors.Is(verr, ErrInvalid) {
			t.Fatalf("Validate error does not wrap ErrInvalid: %v", verr)
		}
		// A secret counts as shown when the text follows its value: with
		// the value changed in the file, the changed value is shown.
		text := func(lerr, verr error, printed string) string {
			return fmt.Sprint(lerr) + "\n" + fmt.Sprint(verr) + "\n" + printed
		}
		shown := text(lerr, verr, printed)
		for _, s := range secretValues(doc) {
			if !strings.Contains(shown, s) {
				continue
			}
			alt := shiftChars(s)
			_, lerr2, verr2, printed2 := load(bytes.ReplaceAll(doc, []byte(s), []byte(alt)))
			if shown2 := text(lerr2, verr2, printed2); strings.Contains(shown2, alt) && !strings.Contains(shown2, s) {
				t.Fatalf("secret value %q shown:\n%s", s, shown)
			}
		}
		if cfg == nil {
			return
		}
		again, lerr2, _, printed2 := load([]byte(printed))
		if lerr2 != nil || again == nil {
			t.Fatalf("printed configuration does not load: %v\n%s", lerr2, printed)
		}
		if printed2 != printed {
			t.Fatalf("printed configuration changes when loaded again:\n%s\n---\n%s", printed, printed2)
		}
	})
}

// secretValues returns the scalar values (10 bytes or more) of doc under
// the keys Options marks secret (the password and password parameters of a
// URL DSN), matching map-key placeholders ("<name>") to any key and key names
// without regard to case, as Load does.
func secretValues(doc []byte) []string {
	var tree any
	if yamlv3.Unmarshal(doc, &tree) != nil {
		return nil
	}
	var patterns [][]string
	for _, o := range Options() {
		if o.Secret {
			patterns = append(patterns, strings.Split(o.Key, "."))
		}
	}
	secretPath := func(path []string) (bool, bool) {
		for _, p := range patterns {
			if len(p) > len(path) {
				continue
			}
			match := true
			for i, seg := range p {
				match = match && (strings.HasPrefix(seg, "<") || strings.EqualFold(seg, path[i]))
			}
			if match {
				return true, strings.EqualFold(p[len(p)-1], "dsn")
			}
		}
		return false, false
	}
	var out []string
	add := func(s string) {
		if len(s) >= 10 {
			out = append(out, s)
		}
	}
	var walk func(v any, path []string)
	walk = func(v any, path []string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(x, append(path[:len(path):len(path)], k))
			}
		case []any:
			for _, x := range v {
				walk(x, path)
			}
		case nil:
		default:
			secret, dsn := secretPath(path)
			switch {
			case !secret:
			case dsn:
				// Only a URL DSN (postgres://user:password@...) has a
				// password; anything else is a SQLite file path.
				if u, err := url.Parse(fmt.Sprint(v)); err == nil && strings.Contains(fmt.Sprint(v), "://") {
					if pw, ok := u.User.Password(); ok {
						add(pw)
					}
					for k, vs := range u.Query() {
						if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
							for _, x := range vs {
								add(x)
							}
						}
					}
				}
			default:
				add(fmt.Sprint(v))
			}
		}
	}
	walk(tree, nil)
	return out
}

// shiftChars changes every digit and letter of s to the next one of its
// kind, hex digits staying hex digits, so that a value keeps its shape.
func shiftChars(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '8', r >= 'a' && r <= 'e', r >= 'A' && r <= 'E', r >= 'g' && r <= 'y', r >= 'G' && r <= 'Y':
			return r + 1
		case r == '9':
			return '0'
		case r == 'f' || r == 'F':
			return r - 5
		case r == 'z' || r == 'Z':
			return r - 19
		}
		return r
	}, s)
}
