package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
)

// Option describes one configuration key, for documentation and for
// drmpipe config check --list.
type Option struct {
	// Key is the dotted path; "<drm>" or "<name>" stand for map keys.
	Key string
	// Env is the environment variable that sets it.
	Env string
	// Default is the built-in default as text ("" when empty).
	Default string
	// Secret reports a value that is masked when printed.
	Secret bool
}

// derivedDefaults are defaults computed from other keys by Load.
var derivedDefaults = map[string]string{
	"store.dsn":               "sqlite:<data_dir>/keys.db",
	"kms.local.kek_file":      "<data_dir>/kek.json",
	"tokens.signing_key_file": "<data_dir>/token_signing_key.pem",
	"live.dir":                "<data_dir>/live",
}

// Options lists every configuration key with its environment variable and
// built-in default, in key order.
func Options() []Option {
	d := Default()
	var out []Option
	walkOptions(reflect.ValueOf(*d), reflect.TypeOf(*d), "", "", &out)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// EnvName returns the environment variable for a dotted key path.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

func walkOptions(v reflect.Value, t reflect.Type, prefix, secret string, out *[]Option) {
	add := func(def string) {
		if d, ok := derivedDefaults[prefix]; ok {
			def = d
		}
		*out = append(*out, Option{Key: prefix, Env: EnvName(prefix), Default: def, Secret: secret != ""})
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("koanf"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if opts == "squash" {
				var fv reflect.Value
				if v.IsValid() {
					fv = v.Field(i)
				}
				walkOptions(fv, f.Type, prefix, secret, out)
				continue
			}
			if name == "" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			var fv reflect.Value
			if v.IsValid() {
				fv = v.Field(i)
			}
			walkOptions(fv, f.Type, key, f.Tag.Get("secret"), out)
		}
	case reflect.Map:
		if t.Elem() == reflect.TypeOf(entitlement.PolicyOverride{}) {
			// A content's overrides take policy.default's keys: one option.
			*out = append(*out, Option{Key: prefix + ".<name>", Env: EnvName(prefix + ".<NAME>")})
			return
		}
		if t.Elem().Kind() == reflect.Struct {
			placeholder := "<name>"
			if strings.HasSuffix(prefix, "upstreams") {
				placeholder = "<drm>"
			}
			var ev reflect.Value
			if t.Elem() == reflect.TypeOf(upstream.Config{}) {
				ev = reflect.ValueOf(upstream.DefaultConfig())
			}
			walkOptions(ev, t.Elem(), prefix+"."+placeholder, "", out)
			return
		}
		*out = append(*out, Option{Key: prefix + ".<name>", Env: EnvName(prefix + ".<NAME>"), Secret: secret != ""})
	case reflect.Pointer:
		// An optional block of its parent's type (an upstream's
		// secondary): one option, documented as taking the same keys.
		add("")
	default:
		if !v.IsValid() {
			add("")
			return
		}
		add(formatDefault(v))
	}
}

func formatDefault(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		if x == 0 {
			return "0s"
		}
		return x.String()
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v.Interface())
}
