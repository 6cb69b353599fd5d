package config

import (
	"net/url"
	"reflect"
	"strings"
)

// Masked returns a deep copy of c that is safe to print: every field
// tagged secret:"true" that is set becomes Mask, every value of a map
// tagged secret:"values" becomes Mask, and the password in a URL tagged
// secret:"url" (the store DSN) becomes Mask. c is not modified.
//
// Secret fields: store.dsn (password part), kms.pkcs11.pin,
// kms.awskms.{secret_access_key,session_token}, keys.broker_hmac_key, redis.password,
// license.upstreams.*.credentials.{key,iv,password,token,headers.*,query.*}
// (and those of an upstream's secondary block),
// speke.client.token, observability.tracing.headers.*.
func (c *Config) Masked() *Config {
	out := reflect.New(reflect.TypeOf(*c)).Elem()
	maskCopy(out, reflect.ValueOf(*c), "")
	m := out.Interface().(Config)
	return &m
}

// maskCopy deep-copies src into dst (both of the same type), masking
// according to the secret tag of the field being copied.
func maskCopy(dst, src reflect.Value, secret string) {
	switch src.Kind() {
	case reflect.Struct:
		t := src.Type()
		for i := 0; i < t.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			maskCopy(dst.Field(i), src.Field(i), t.Field(i).Tag.Get("secret"))
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		iter := src.MapRange()
		for iter.Next() {
			v := reflect.New(src.Type().Elem()).Elem()
			if secret == "values" {
				maskCopy(v, iter.Value(), "true")
			} else {
				maskCopy(v, iter.Value(), "")
			}
			m.SetMapIndex(iter.Key(), v)
		}
		dst.Set(m)
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		v := reflect.New(src.Type().Elem())
		maskCopy(v.Elem(), src.Elem(), secret)
		dst.Set(v)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := 0; i < src.Len(); i++ {
			maskCopy(s.Index(i), src.Index(i), secret)
		}
		dst.Set(s)
	case reflect.String:
		v := src.String()
		switch {
		case v == "":
		case secret == "true":
			v = Mask
		case secret == "url":
			v = maskURLPassword(v)
		}
		dst.SetString(v)
	default:
		dst.Set(src)
	}
}

// maskURLPassword replaces the password of a URL's user info with Mask;
// a URL that does not parse is masked whole.
func maskURLPassword(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Mask
	}
	// The user info password and the password parameters are masked
	// together: a DSN may carry both (libpq's sslpassword next to the
	// user's password).
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "MASKED")
			changed = true
		}
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Set(k, "MASKED")
			u.RawQuery = q.Encode()
			changed = true
		}
	}
	if changed {
		return strings.ReplaceAll(u.String(), "MASKED", Mask)
	}
	return s
}
