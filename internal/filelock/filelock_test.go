package filelock

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestLockExcludes: a second holder waits until the first unlocks.
func TestLockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	released := false
	done := make(chan struct{})
	go func() {
		u2, err := Lock(path)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		mu.Lock()
		if !released {
			t.Error("second lock taken while the first was held")
		}
		mu.Unlock()
		u2()
		close(done)
	}()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	released = true
	mu.Unlock()
	unlock()
	<-done
}

// TestTryLock: a second TryLock fails at once with ErrLocked while the
// first holds the lock, and succeeds, on a new file, once the holder has
// removed the file and unlocked.
func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock while held: got %v, want ErrLocked", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	unlock()
	unlock2, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after release: %v", err)
	}
	defer unlock2()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("TryLock did not create the lock file again: %v", err)
	}
}
