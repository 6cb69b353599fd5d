package testtools

import (
	"maps"
	"sync"
)

// Tally counts events by name, for the observer or metrics sink a test
// hands to the code under test. It is safe for concurrent use; the zero
// value is ready.
type Tally struct {
	mu sync.Mutex
	n  map[string]int
}

// Add counts one event called name.
func (c *Tally) Add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name]++
}

// Count is how many events called name were added.
func (c *Tally) Count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// Counts is a copy of every count, for a failure message.
func (c *Tally) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}
