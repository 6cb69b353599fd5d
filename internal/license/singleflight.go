package license

import (
	"context"
	"sync"
)

// flight merges concurrent calls with the same key into one execution, so
// duplicated license requests cost one upstream call.
type flight struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	done chan struct{}
	resp Response
	err  error
}

// do runs fn once per key among concurrent callers. A waiter whose own
// context ends stops waiting (the execution goes on for the others).
func (f *flight) do(ctx context.Context, key string, fn func() (Response, error)) (Response, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]*flightCall{}
	}
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.resp, c.err
		case <-ctx.Done():
			return Response{}, ctx.Err()
		}
	}
	c := &flightCall{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()

	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.resp, c.err = fn()
	return c.resp, c.err
}
