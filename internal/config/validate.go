package config

import (
	"errors"
	"fmt"

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
