package server_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/jobs"
	"github.com/drmpipe/drmpipe/internal/server"
)

// TestJobQueuedLongerThanBrokerTTL: a job that waits in the queue for
// longer than keys.broker_url_ttl still completes, because the worker
// (drmpipe worker with its API key of scope package) gets a fresh broker
// URL from the jobs API when it starts the job; the URL signed at submit
// has expired by then. The server's clock is moved on instead of waiting.
func TestJobQueuedLongerThanBrokerTTL(t *testing.T) {
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "jobs.db")
	a := startAppWith(t, "keys:\n  broker_hmac_key: "+brokerKeyHex+"\n  broker_url_ttl: 1m\njobs:\n  dsn: "+dsn+"\n",
		server.AppOptions{Now: clock})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	key, _, err := a.APIKeys.Create(ctx, "worker", []apikey.Scope{apikey.ScopePackage})
	if err != nil {
		t.Fatal(err)
	}
	api := &jobs.Client{Server: a.url, APIKey: key}
	clip, err := filepath.Abs(filepath.Join("..", "..", "testdata", "sample.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	job, _, err := api.Submit(ctx, jobs.Request{Inputs: []string{clip}, Output: filepath.Join(dir, "out"), ContentID: "queued-long"}, "")
	if err != nil {
		t.Fatal(err)
	}
	// Five minutes in the queue, five times the URL's lifetime.
	skew.Store(int64(5 * time.Minute))

	w, err := jobs.NewWorker(jobs.WorkerDeps{Broker: jobs.APIBroker{APIKey: key}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := jobs.Open(ctx, jobs.Config{DSN: dsn, MaxAttempts: 1, Timeout: time.Minute}, jobs.QueueDeps{Workers: 1, Worker: w})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		_ = q.Stop(sctx)
	}()
	j, err := api.Wait(ctx, job.ID, 100*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != jobs.StateCompleted || j.Result == nil || len(j.Result.Tracks) == 0 || len(j.Result.Tracks[0].KIDs) != 1 {
		t.Fatalf("job after 5 minutes in the queue: %+v", j)
	}

	// The fresh URL is for running jobs only: a job that ended gets none.
	_, err = api.BrokerURL(ctx, job.ID, strings.Repeat("ab", 32))
	var ae *jobs.APIError
	if !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("broker URL for an ended job: %v", err)
	}
}
