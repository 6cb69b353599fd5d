// Package enum is the name table behind drmpipe's typed enums (a uint8 type
// with named constants, habit 3 of the house style): each type declares its
// names once, and its String and Parse read that table, so printing,
// parsing and the list of accepted names in an error cannot drift apart,
// and unknown names are refused.
package enum

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Names maps each value of an enum type to its name.
type Names[T ~uint8] map[T]string

// String returns v's name, or "Type(n)" for a value without one.
func (n Names[T]) String(v T) string {
	if s, ok := n[v]; ok {
		return s
	}
	return fmt.Sprintf("%s(%d)", reflect.TypeFor[T]().Name(), uint8(v))
}

// Parse returns the value named s, ignoring case and surrounding white
// space. An unknown name gives an error wrapping sentinel that quotes s
// after what (say "key origin"; may be empty) and lists the names:
// `<sentinel>: key origin "x" (want slot or kid)`.
func (n Names[T]) Parse(s string, sentinel error, what string) (T, error) {
	return n.find(s, sentinel, what, func(name string) bool { return strings.EqualFold(strings.TrimSpace(s), name) })
}

// Lookup is Parse for names on the wire, where a different spelling is
// not the same name: s must be exactly a name.
func (n Names[T]) Lookup(s string, sentinel error, what string) (T, error) {
	return n.find(s, sentinel, what, func(name string) bool { return s == name })
}

// ParseList parses a comma-separated list of names, each as Parse does
// (empty items are skipped), into its distinct values in value order. An
// empty list gives none; whether that is allowed is the caller's rule.
func (n Names[T]) ParseList(list string, sentinel error, what string) ([]T, error) {
	var out []T
	for _, item := range strings.Split(list, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		v, err := n.Parse(item, sentinel, what)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (n Names[T]) find(s string, sentinel error, what string, match func(name string) bool) (T, error) {
	for v, name := range n {
		if match(name) {
			return v, nil
		}
	}
	if what != "" {
		what += " "
	}
	return 0, fmt.Errorf("%w: %s%q (want %s)", sentinel, what, s, n.Want())
}

// Want lists the names in the order of their values: "a, b or c".
func (n Names[T]) Want() string {
	vals := make([]T, 0, len(n))
	for v := range n {
		vals = append(vals, v)
	}
	slices.Sort(vals)
	names := make([]string, len(vals))
	for i, v := range vals {
		names[i] = n[v]
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
