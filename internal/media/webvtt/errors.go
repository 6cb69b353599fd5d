package webvtt

import "errors"

// ErrSyntax is wrapped by every Parse error; the message names the file and
// line of the offending text.
var ErrSyntax = errors.New("WebVTT syntax error")
