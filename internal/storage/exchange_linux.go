//go:build linux

package storage

import (
	"errors"

	"golang.org/x/sys/unix"
)

// exchangeDirs swaps the directory entries a and b in one step with
// renameat2(2) RENAME_EXCHANGE (Linux 3.15+), so that both names exist at
// every moment. Kernels without renameat2 and filesystems without the flag
// answer ENOSYS or EINVAL (some EOPNOTSUPP): exchangeDirs then returns
// errors.ErrUnsupported.
func exchangeDirs(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
		return errors.ErrUnsupported
	}
	return err
}
