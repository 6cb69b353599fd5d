//go:build !unix

package filelock

import (
	"errors"
	"sync"
)

var processLock sync.Mutex

// Lock only serialises within this process on systems without flock.
func Lock(string) (unlock func(), err error) {
	processLock.Lock()
	return processLock.Unlock, nil
}

// TryLock cannot tell other processes' locks apart without flock.
func TryLock(string) (unlock func(), err error) {
	return nil, errors.ErrUnsupported
}
