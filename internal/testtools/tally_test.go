package testtools

import (
	"sync"
	"testing"
)

func TestTallyConcurrentAdds(t *testing.T) {
	var c Tally
	if c.Count("a") != 0 || len(c.Counts()) != 0 {
		t.Fatalf("zero Tally counts %v", c.Counts())
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Add("a")
			}
			c.Add("b")
		})
	}
	wg.Wait()
	got := c.Counts()
	if c.Count("a") != 800 || c.Count("b") != 8 || len(got) != 2 {
		t.Fatalf("counts %v, want a 800, b 8", got)
	}
	got["a"] = 0
	if c.Count("a") != 800 {
		t.Fatal("Counts is not a copy")
	}
}
