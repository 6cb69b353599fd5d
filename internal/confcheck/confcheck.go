// Package confcheck collects configuration validation problems, each
// naming the key that holds the bad value ("license.upstreams.widevine.url"),
// so that every domain can validate its own Config with the keys the
// configuration file uses, without importing package config; and it holds
// the one rule of the settings whose zero or negative value means the
// default (PositiveOr).
package confcheck

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// FieldError is one problem of one key. It unwraps to the sentinel of the
// domain that found it.
type FieldError struct {
	Key      string
	Msg      string
	Sentinel error
}

func (e *FieldError) Error() string {
	msg := e.Msg
	if e.Key != "" {
		msg = e.Key + ": " + msg
	}
	if e.Sentinel == nil {
		return msg
	}
	return e.Sentinel.Error() + ": " + msg
}

// Unwrap returns the domain's sentinel.
func (e *FieldError) Unwrap() error { return e.Sentinel }

// Errors collects FieldErrors for one domain sentinel.
type Errors struct {
	sentinel error
	list     []error
}

// New starts an empty collection whose errors wrap sentinel.
func New(sentinel error) *Errors { return &Errors{sentinel: sentinel} }

// Add records a problem of key.
func (e *Errors) Add(key, format string, args ...any) {
	e.list = append(e.list, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...), Sentinel: e.sentinel})
}

// Err joins the problems; nil when there are none.
func (e *Errors) Err() error { return errors.Join(e.list...) }

// Key joins a prefix and a key name ("" prefix = the name alone).
func Key(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Fields returns the FieldErrors of err (joined or single), in order; any
// other error is returned as a FieldError without key.
func Fields(err error) []*FieldError {
	if err == nil {
		return nil
	}
	var out []*FieldError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, Fields(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return []*FieldError{{Msg: err.Error()}}
}

// URL checks that s is an absolute http(s) URL without credentials; plain
// http is only accepted for loopback hosts unless allowHTTP.
func (e *Errors) URL(key, s string, allowHTTP bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		e.Add(key, "must be an absolute http:// or https:// URL")
		return
	}
	if u.User != nil {
		e.Add(key, "must not carry credentials in the URL; use the credentials settings")
	}
	if u.Scheme == "http" && !allowHTTP && !IsLoopback(u.Hostname()) {
		e.Add(key, "must use https (plain http only for loopback)")
	}
}

// IsLoopback reports the loopback host names and addresses.
func IsLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Duration checks lo <= d <= hi.
func (e *Errors) Duration(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		e.Add(key, "must be between %v and %v (got %v)", lo, hi, d)
	}
}

// HostPort checks that s is host:port with a numeric port (the host may be
// empty: every interface).
func (e *Errors) HostPort(key, s string) {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		e.Add(key, "%q is not host:port", s)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		e.Add(key, "%q has an invalid port", s)
	}
}

// PositiveOr returns v, or def when v is zero or negative: the rule of
// every setting whose unset (or negative) value means its default. Where
// only zero means the default, use cmp.Or.
func PositiveOr[T ~int | ~int32 | ~int64 | ~float64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
