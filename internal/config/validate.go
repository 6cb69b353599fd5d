package config

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// errList collects validation failures, each naming its key.
type errList []error

func (l *errList) add(key, format string, args ...any) {
	*l = append(*l, fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...)))
}

func (l *errList) merge(err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		*l = append(*l, j.Unwrap()...)
		return
	}
	*l = append(*l, err)
}

func (l errList) err() error { return errors.Join(l...) }

// domain adds the problems a domain's Validate found (confcheck field
// errors), each under its own key.
func (l *errList) domain(err error) {
	for _, fe := range confcheck.Fields(err) {
		if fe.Key == "" {
			*l = append(*l, fmt.Errorf("%w: %s", ErrInvalid, fe.Msg))
			continue
		}
		l.add(fe.Key, "%s", fe.Msg)
	}
}

// checkURL checks that s is an absolute http(s) URL; plain http is only
// accepted for loopback hosts unless allowHTTP.
func checkURL(errs *errList, key, s string, allowHTTP bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		errs.add(key, "must be an absolute http:// or https:// URL")
		return
	}
	if u.User != nil {
		errs.add(key, "must not carry credentials in the URL; use the credentials settings")
	}
	if u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()) {
		errs.add(key, "must use https (plain http only for loopback)")
	}
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func checkDuration(errs *errList, key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		errs.add(key, "must be between %v and %v (got %v)", lo, hi, d)
	}
}
