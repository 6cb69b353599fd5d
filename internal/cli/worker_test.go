package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestWorkerMetricsListen: drmpipe worker --metrics-listen serves the
// drmpipe_job_* families on its own listener (a worker has no other), and
// stops serving when the worker stops; a bad address is refused naming the
// flag.
func TestWorkerMetricsListen(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "drmpipe.yaml")
	if err := os.WriteFile(conf, []byte("jobs:\n  dsn: sqlite:"+filepath.Join(dir, "jobs.db")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testtools.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"worker", "--config", conf, "--metrics-listen", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	re := regexp.MustCompile(`metrics at (http://127\.0\.0\.1:\d+/metrics)`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil && strings.Contains(stdout.String(), "drmpipe worker running") {
			url = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("worker exited %d: %s", code, stderr.String())
		default:
		}
	}
	if url == "" {
		t.Fatalf("no metrics address printed: %q %q", stdout.String(), stderr.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"drmpipe_job_queue_wait_seconds_count 0", "drmpipe_job_bytes_read_total 0", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("worker /metrics lacks %q", want)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("worker exit %d: %s", code, stderr.String())
	}
	if _, err := http.Get(url); err == nil {
		t.Error("metrics still served after the worker stopped")
	}

	code, _, errOut := run(t, "worker", "--config", conf, "--metrics-listen", "not-an-address")
	if code == 0 || !strings.Contains(errOut, "--metrics-listen") {
		t.Errorf("bad --metrics-listen: exit %d, stderr %q", code, errOut)
	}
}
