package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/jobs"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/server"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// jobsSetup is a server with the jobs API on an embedded SQLite queue,
// keys.broker_url_ttl 1m and a clock the test moves on (skew), API keys
// of scope package (submit) and worker, and the sample clip.
type jobsSetup struct {
	a       *testApp
	skew    *atomic.Int64
	dir     string
	dsn     string
	apiKey  string // scope package
	workKey string // scope worker
	api     *jobs.Client
	clip    string
	timeout context.Context
}

func newJobsSetup(t *testing.T) *jobsSetup {
	t.Helper()
	s := &jobsSetup{skew: &atomic.Int64{}, dir: t.TempDir()}
	s.dsn = "sqlite:" + filepath.Join(s.dir, "jobs.db")
	clock := func() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }
	s.a = startAppWith(t, "keys:\n  broker_hmac_key: "+brokerKeyHex+"\n  broker_url_ttl: 1m\njobs:\n  dsn: "+s.dsn+"\n",
		server.AppOptions{Now: clock})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	s.timeout = ctx
	var err error
	if s.apiKey, _, err = s.a.APIKeys.Create(ctx, "catalog", []apikey.Scope{apikey.ScopePackage}); err != nil {
		t.Fatal(err)
	}
	if s.workKey, _, err = s.a.APIKeys.Create(ctx, "worker", []apikey.Scope{apikey.ScopeWorker}); err != nil {
		t.Fatal(err)
	}
	s.api = &jobs.Client{Server: s.a.url, APIKey: s.apiKey}
	s.clip = testtools.SampleClip(t)
	return s
}

// worker runs one job at a time on the queue as `drmpipe worker` with
// DRMPIPE_API_KEY does: its keys through broker URLs the API signs when a
// job starts.
func (s *jobsSetup) worker(t *testing.T) {
	t.Helper()
	w, err := jobs.NewWorker(jobs.WorkerDeps{Broker: jobs.APIBroker{APIKey: s.workKey}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := jobs.Open(s.timeout, jobs.Config{DSN: s.dsn, MaxAttempts: 1, Timeout: time.Minute}, jobs.QueueDeps{Workers: 1, Worker: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(s.timeout); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		_ = q.Stop(ctx)
		_ = q.Close()
	})
}

// run submits req and waits for the job to end.
func (s *jobsSetup) run(t *testing.T, req jobs.Request, beforeWorker func()) jobs.Job {
	t.Helper()
	job, _, err := s.api.Submit(s.timeout, req, "")
	if err != nil {
		t.Fatal(err)
	}
	if beforeWorker != nil {
		beforeWorker()
	}
	s.worker(t)
	j, err := s.api.Wait(s.timeout, job.ID, 100*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestJobQueuedLongerThanBrokerTTL: a job that waits in the queue for
// longer than keys.broker_url_ttl still completes, because the worker
// (drmpipe worker with its API key of scope worker) gets a fresh broker
// URL from the jobs API when it starts the job; the URL signed at submit
// has expired by then. The server's clock is moved on instead of waiting.
func TestJobQueuedLongerThanBrokerTTL(t *testing.T) {
	s := newJobsSetup(t)
	j := s.run(t, jobs.Request{Inputs: []string{s.clip}, Output: filepath.Join(s.dir, "out"), ContentID: "queued-long"}, func() {
		// Five minutes in the queue, five times the URL's lifetime.
		s.skew.Store(int64(5 * time.Minute))
	})
	if j.State != jobs.StateCompleted || j.Result == nil || len(j.Result.Tracks) == 0 || len(j.Result.Tracks[0].KIDs) != 1 {
		t.Fatalf("job after 5 minutes in the queue: %+v", j)
	}
	// The fresh URL is for running jobs only: a job that ended gets none.
	worker := &jobs.Client{Server: s.a.url, APIKey: s.workKey}
	_, err := worker.BrokerURL(s.timeout, j.ID, strings.Repeat("ab", 32), nil)
	var ae *jobs.APIError
	if !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("broker URL for an ended job: %v", err)
	}
	// A package key submits and reads jobs but gets no keys.
	_, err = s.api.BrokerURL(s.timeout, j.ID, strings.Repeat("ab", 32), nil)
	if !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("broker URL with a package key: %v", err)
	}
}

// TestJobKeyRotation: a job with keyPeriod 4s on the 10 s clip gets its
// three key periods' keys from the broker in one CPIX document, and
// drmpipe verify decrypts every segment with the key store's key of each
// period; with period 0's key alone it does not pass. The periods' media
// times are recorded in the store (key_period_times) as drmpipe package
// --key-period records them, and a second job of the same content with
// another keyPeriod fails naming the contradicted period.
func TestJobKeyRotation(t *testing.T) {
	s := newJobsSetup(t)
	out := filepath.Join(s.dir, "out")
	j := s.run(t, jobs.Request{Inputs: []string{s.clip}, Output: out, ContentID: "rotated", KeyPeriod: "4s", SegmentDuration: "2s"}, nil)
	if j.State != jobs.StateCompleted || j.Result == nil {
		t.Fatalf("job with keyPeriod: %+v", j)
	}
	var args []string
	for p := range uint32(3) {
		k, err := s.a.Keys.GetOrCreate(s.timeout, "rotated", keys.All, p)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--key", k.KID.String()+":"+hex.EncodeToString(k.Key))
	}
	for _, tr := range j.Result.Tracks {
		if len(tr.KIDs) != 3 {
			t.Errorf("track %s: KIDs %v, want one per key period (3)", tr.Name, tr.KIDs)
		}
	}
	if stdout, stderr, code := runCLI(t, append(append([]string{"verify"}, args...), out)...); code != 0 {
		t.Fatalf("verify with the three periods' keys: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, _, code := runCLI(t, "verify", args[0], args[1], out); code == 0 {
		t.Fatal("verify passed with period 0's key alone")
	}
	want := []keys.PeriodTimes{
		{Period: 0, Start: 0, End: 4 * time.Second},
		{Period: 1, Start: 4 * time.Second, End: 8 * time.Second},
		{Period: 2, Start: 8 * time.Second, End: 10 * time.Second},
	}
	got, err := s.a.Keys.ListPeriodTimes(s.timeout, "rotated")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("recorded key periods %+v (%v), want %+v", got, err, want)
	}
	// Another keyPeriod for the same content contradicts the record: the
	// job fails (no retry can mend it), naming the period.
	job, _, err := s.api.Submit(s.timeout, jobs.Request{Inputs: []string{s.clip}, Output: filepath.Join(s.dir, "out6"), ContentID: "rotated", KeyPeriod: "6s", SegmentDuration: "2s"}, "")
	if err != nil {
		t.Fatal(err)
	}
	j, err = s.api.Wait(s.timeout, job.ID, 100*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != jobs.StateFailed || len(j.Errors) == 0 || !strings.Contains(j.Errors[len(j.Errors)-1].Error, `content "rotated" key period 0 (media time 0s-6s)`) {
		t.Fatalf("job contradicting the recorded key periods: %+v", j)
	}
	if e := j.Errors[len(j.Errors)-1].Error; strings.HasPrefix(e, "JobCancelError") {
		t.Errorf("job error %q carries River's error type; the record should keep only the cause", e)
	}
	if got, _ := s.a.Keys.ListPeriodTimes(s.timeout, "rotated"); !slices.Equal(got, want) {
		t.Errorf("after the refused job: recorded periods %+v, want %+v", got, want)
	}
}

// TestJobSubmitLocation: a submit answers 201 with the job's URL in
// Location, a retry with the same Idempotency-Key 200 with the same URL;
// reading the job carries none. A malformed job ID is not found.
func TestJobSubmitLocation(t *testing.T) {
	s := newJobsSetup(t)
	body, err := json.Marshal(jobs.Request{Inputs: []string{s.clip}, Output: filepath.Join(s.dir, "out"), ContentID: "located"})
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path string, body []byte) (*http.Response, jobs.Job) {
		t.Helper()
		req, err := http.NewRequestWithContext(s.timeout, method, s.a.url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+s.apiKey)
		req.Header.Set("Idempotency-Key", "located-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var j jobs.Job
		if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
			t.Fatalf("%s %s: %d, no job: %v", method, path, resp.StatusCode, err)
		}
		return resp, j
	}
	resp, j := send(http.MethodPost, jobs.PathJobs, body)
	want := jobs.PathJobs + "/" + strconv.FormatInt(j.ID, 10)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != want {
		t.Fatalf("submit: %d Location %q, want 201 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if resp, again := send(http.MethodPost, jobs.PathJobs, body); resp.StatusCode != http.StatusOK || again.ID != j.ID || resp.Header.Get("Location") != want {
		t.Errorf("repeated submit: %d job %d Location %q, want 200 %d %q", resp.StatusCode, again.ID, resp.Header.Get("Location"), j.ID, want)
	}
	if resp, got := send(http.MethodGet, want, nil); resp.StatusCode != http.StatusOK || got.ID != j.ID || resp.Header.Get("Location") != "" {
		t.Errorf("show: %d job %d Location %q", resp.StatusCode, got.ID, resp.Header.Get("Location"))
	}
	// A malformed job ID is not found, on every endpoint on one job; a
	// key without the endpoint's scope is refused first.
	for _, tc := range []struct {
		method, path, key string
		status            int
	}{
		{http.MethodGet, jobs.PathJobs + "/abc", s.apiKey, http.StatusNotFound},
		{http.MethodPost, jobs.PathJobs + "/0/cancel", s.apiKey, http.StatusNotFound},
		{http.MethodPost, jobs.PathJobs + "/-1/broker-url", s.workKey, http.StatusNotFound},
		{http.MethodPost, jobs.PathJobs + "/abc/broker-url", s.apiKey, http.StatusForbidden},
		{http.MethodGet, jobs.PathJobs + "/abc", "wrong", http.StatusUnauthorized},
	} {
		req, err := http.NewRequestWithContext(s.timeout, tc.method, s.a.url+tc.path, strings.NewReader(`{"recipient":"ab"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tc.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
}
