//go:build !unix

package filelock

import "sync"

var processLock sync.Mutex

// Lock only serialises within this process on systems without flock.
func Lock(string) (unlock func(), err error) {
	processLock.Lock()
	return processLock.Unlock, nil
}
