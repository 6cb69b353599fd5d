package media

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestZZSlow(t *testing.T) {
	files, _ := filepath.Glob("/tmp/mt/cache/*")
	for _, fn := range files {
		raw, _ := os.ReadFile(fn)
		body := strings.TrimSpace(strings.TrimPrefix(string(raw), "go test fuzz v1\n"))
		body = strings.TrimSuffix(strings.TrimPrefix(body, "[]byte("), ")")
		data, err := strconv.Unquote(body)
		if err != nil {
			t.Log(fn, err)
			continue
		}
		p := filepath.Join(t.TempDir(), "x.mp4")
		os.WriteFile(p, []byte(data), 0o644)
		done := make(chan error, 1)
		start := time.Now()
		go func() { f, err := Open(p); if err == nil { f.Close() }; done <- err }()
		select {
		case err := <-done:
			t.Logf("%s %v %v", filepath.Base(fn), time.Since(start), err)
		case <-time.After(5 * time.Second):
			t.Logf("%s HANG", filepath.Base(fn))
			os.WriteFile("/tmp/mt/hang.mp4", []byte(data), 0o644)
		}
	}
}
