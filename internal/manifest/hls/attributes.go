package hls

import (
	"fmt"
	"strconv"
	"strings"
)

// attrList builds an RFC 8216 §4.2 attribute-list: AttributeName=value pairs
// separated by commas, with values typed as the RFC defines them.
type attrList struct {
	b   strings.Builder
	err error
}

func (a *attrList) name(n string) {
	if a.b.Len() > 0 {
		a.b.WriteByte(',')
	}
	a.b.WriteString(n)
	a.b.WriteByte('=')
}

// quoted writes a quoted-string, which "MUST NOT contain CR, LF or the
// double quote character" (RFC 8216 §4.2).
func (a *attrList) quoted(n, v string) {
	if strings.ContainsAny(v, "\"\r\n") && a.err == nil {
		a.err = fmt.Errorf("%w: attribute %s cannot hold a double quote, CR or LF", ErrInvalidPresentation, n)
	}
	a.name(n)
	a.b.WriteByte('"')
	a.b.WriteString(v)
	a.b.WriteByte('"')
}

// enum writes an enumerated-string (unquoted).
func (a *attrList) enum(n, v string) {
	a.name(n)
	a.b.WriteString(v)
}

// integer writes a decimal-integer.
func (a *attrList) integer(n string, v int) {
	a.name(n)
	a.b.WriteString(strconv.Itoa(v))
}

func (a *attrList) String() string { return a.b.String() }
