package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// docRow is one row of a key table in docs/config.md.
type docRow struct{ key, env, def string }

// docRowRE matches "| `key` [🔒] | `ENV` | default | description |".
var docRowRE = regexp.MustCompile("^\\| `([a-z0-9_.<>]+)`(?: 🔒)? \\| `([A-Z0-9_<>]+)` \\| ([^|]*) \\|")

func readDocRows(t *testing.T) map[string]docRow {
	t.Helper()
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]docRow{}
	for _, line := range strings.Split(string(doc), "\n") {
		m := docRowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := rows[m[1]]; dup {
			t.Errorf("docs/config.md documents %s twice", m[1])
		}
		rows[m[1]] = docRow{key: m[1], env: m[2], def: strings.TrimSpace(m[3])}
	}
	return rows
}

// docDefault is how the docs table writes a default.
func docDefault(def string) string {
	switch def {
	case "(empty)", "`[]`":
		return ""
	}
	return strings.Trim(def, "`")
}

// yamlPaths walks t (the composed Config type) by reflection and returns
// every leaf key path as the YAML file spells it, with <name> for map keys
// (<drm> under license.upstreams). Squashed (inline) structs add their
// fields to their parent; pointers to a struct of the parent's type are
// one key (an upstream's secondary block).
func yamlPaths(t reflect.Type, prefix string, out map[string]bool) {
	switch t.Kind() {
	case reflect.Struct:
		if t.NumField() == 0 || t.PkgPath() == "time" {
			out[prefix] = true
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if strings.Contains(opts, "inline") {
				yamlPaths(f.Type, prefix, out)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			yamlPaths(f.Type, key, out)
		}
	case reflect.Map:
		placeholder := "<name>"
		if strings.HasSuffix(prefix, "upstreams") {
			placeholder = "<drm>"
		}
		if t.Elem().Kind() == reflect.Struct || (t.Elem().Kind() == reflect.Pointer && t.Elem().Elem().Kind() == reflect.Struct) {
			if t.Elem() == reflect.TypeOf(entitlement.PolicyOverride{}) {
				// Overrides take policy.default's keys; documented as one.
				out[prefix+"."+placeholder] = true
				return
			}
			yamlPaths(t.Elem(), prefix+"."+placeholder, out)
			return
		}
		out[prefix+"."+placeholder] = true
	case reflect.Pointer:
		out[prefix] = true
	default:
		out[prefix] = true
	}
}

// TestDocsMatchConfigType: every key path of the composed Config type (by
// reflection over its yaml tags) has a row in docs/config.md with its
// environment variable and its built-in default, and every documented key
// exists, so a new or renamed option of any domain cannot go undocumented
// and a documented default cannot drift from the code's.
func TestDocsMatchConfigType(t *testing.T) {
	rows := readDocRows(t)
	paths := map[string]bool{}
	yamlPaths(reflect.TypeOf(Config{}), "", paths)
	if len(paths) < 100 {
		t.Fatalf("walked only %d key paths", len(paths))
	}
	for p := range paths {
		r, ok := rows[p]
		if !ok {
			t.Errorf("docs/config.md does not document %s", p)
			continue
		}
		if want := strings.ToUpper(EnvName(p)); r.env != want {
			t.Errorf("docs/config.md: %s has env %s, want %s", p, r.env, want)
		}
	}
	for k := range rows {
		if !paths[k] {
			t.Errorf("docs/config.md documents %s, which is not a configuration key", k)
		}
	}
	for _, o := range Options() {
		r, ok := rows[o.Key]
		if !ok {
			continue // reported above
		}
		if got := docDefault(r.def); got != o.Default {
			t.Errorf("docs/config.md: %s default %q, the code's is %q", o.Key, r.def, o.Default)
		}
	}
}
