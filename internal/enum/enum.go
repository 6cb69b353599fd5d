// Package enum is the name table behind drmpipe's typed enums (a uint8 type
// with named constants, habit 3 of the house style): each type declares its
// names once, and its String and Parse read that table, so printing and
// parsing cannot drift apart and unknown names are refused.
package enum

import (
	"fmt"
	"reflect"
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
// space.
func (n Names[T]) Parse(s string) (T, bool) {
	s = strings.TrimSpace(s)
	for v, name := range n {
		if strings.EqualFold(s, name) {
			return v, true
		}
	}
	return 0, false
}

// Lookup returns the value named exactly s (for names on the wire, where a
// different spelling is not the same name).
func (n Names[T]) Lookup(s string) (T, bool) {
	for v, name := range n {
		if s == name {
			return v, true
		}
	}
	return 0, false
}
