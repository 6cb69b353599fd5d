//go:build !unix

package local

import "sync"

var processLock sync.Mutex

// lockFile only serialises within this process on systems without flock.
func lockFile(string) (unlock func(), err error) {
	processLock.Lock()
	return processLock.Unlock, nil
}
