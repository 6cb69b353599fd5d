//go:build unix

package filelock

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// Lock takes an exclusive advisory lock on path (created 0600), which
// the kernel releases if the process dies.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f, syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return unlockFunc(f), nil
}

// TryLock is Lock without waiting: ErrLocked when another open file holds
// the lock. The holder may remove path before it unlocks, so that no lock
// file outlives its users: a TryLock that locked the removed file meanwhile
// notices (path no longer names the file it holds) and tries the new one.
func TryLock(path string) (unlock func(), err error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		err = flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, ErrLocked
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		held, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		named, err := os.Stat(path)
		switch {
		case err == nil && os.SameFile(held, named):
			return unlockFunc(f), nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			f.Close()
			return nil, err
		}
		f.Close() // the previous holder removed it; lock the file path names now
	}
}

// flock applies how to f, retrying when a signal interrupts the call.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlockFunc(f *os.File) func() {
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
