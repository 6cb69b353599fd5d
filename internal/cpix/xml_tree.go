package cpix

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/drmpipe/drmpipe/internal/confcheck"
)

// Limits bound what Unmarshal accepts. Zero fields take the defaults.
type Limits struct {
	MaxBytes    int64 // document size; default DefaultMaxBytes
	MaxDepth    int   // element nesting; default DefaultMaxDepth
	MaxElements int   // element count; default DefaultMaxElements
}

// Default limits: a SPEKE v2 request for eight keys and four DRM systems is
// about 20 KB and eight levels deep.
const (
	DefaultMaxBytes    = 1 << 20
	DefaultMaxDepth    = 32
	DefaultMaxElements = 20000
)

func (l Limits) withDefaults() Limits {
	l.MaxBytes = confcheck.PositiveOr(l.MaxBytes, DefaultMaxBytes)
	l.MaxDepth = confcheck.PositiveOr(l.MaxDepth, DefaultMaxDepth)
	l.MaxElements = confcheck.PositiveOr(l.MaxElements, DefaultMaxElements)
	return l
}

// node is an element of the parsed tree: names are namespace-resolved.
type node struct {
	name     xml.Name
	attrs    []xml.Attr
	children []*node
	text     strings.Builder
	line     int
}

// attr returns the value of an unqualified attribute and whether it exists.
func (n *node) attr(local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

func (n *node) is(space, local string) bool { return n.name.Space == space && n.name.Local == local }

// parseTree reads b into a tree of elements. It refuses DTDs (and with them
// every entity declaration, the XXE and billion-laughs vectors), processing
// instructions other than the XML declaration, nesting deeper than
// lim.MaxDepth, more than lim.MaxElements elements and undefined entities
// (encoding/xml's strict mode knows only the five predefined ones).
func parseTree(b []byte, lim Limits) (*node, error) {
	if int64(len(b)) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), lim.MaxBytes)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.Entity = nil
	d.CharsetReader = nil // only UTF-8 (and its US-ASCII subset)
	var root *node
	var stack []*node
	count := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := d.InputPos()
		if err != nil {
			return nil, fmt.Errorf("%w: XML syntax: %w", ErrInvalid, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, fmt.Errorf("%w: line %d: second root element <%s>", ErrInvalid, line, t.Name.Local)
			}
			count++
			if count > lim.MaxElements {
				return nil, fmt.Errorf("%w: more than %d elements", ErrUnsafe, lim.MaxElements)
			}
			if len(stack) >= lim.MaxDepth {
				return nil, fmt.Errorf("%w: line %d: elements nested deeper than %d", ErrUnsafe, line, lim.MaxDepth)
			}
			n := &node{name: t.Name, attrs: t.Attr, line: line}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("%w: line %d: text outside the root element", ErrInvalid, line)
			}
		case xml.Directive:
			return nil, fmt.Errorf("%w: line %d: <!%s…> (DTDs and entity declarations are not accepted)", ErrUnsafe, line, firstWord(t))
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, fmt.Errorf("%w: line %d: processing instruction <?%s?>", ErrUnsafe, line, t.Target)
			}
		case xml.Comment:
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: empty document", ErrInvalid)
	}
	return root, nil
}

func firstWord(b []byte) string {
	s := string(b)
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 16 {
		s = s[:16]
	}
	return s
}
