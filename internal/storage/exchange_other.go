//go:build !linux

package storage

import "errors"

// exchangeDirs has no atomic exchange to call outside Linux; commit then
// replaces an output with two renames.
func exchangeDirs(string, string) error {
	return errors.ErrUnsupported
}
