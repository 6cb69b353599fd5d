package filelock

import (
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
