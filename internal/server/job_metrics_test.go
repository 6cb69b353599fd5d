package server_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/jobs"
	"github.com/drmpipe/drmpipe/internal/observability"
	"github.com/drmpipe/drmpipe/internal/server"
)

// TestJobRunMetricsAndSpan: serve --workers 1 runs a job and a job that
// fails on bad input; /metrics then shows each run's outcome, its queue
// wait, run time, attempts and bytes, and each run is one job.run span
// with the job ID, attempt and content ID, and no broker URL or location.
func TestJobRunMetricsAndSpan(t *testing.T) {
	dir := t.TempDir()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	a := startAppWith(t, "keys:\n  broker_hmac_key: "+brokerKeyHex+"\njobs:\n  dsn: sqlite:"+filepath.Join(dir, "jobs.db")+"\n",
		server.AppOptions{Workers: 1, TracerProvider: tp})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	key, _, err := a.APIKeys.Create(ctx, "catalog", []apikey.Scope{apikey.ScopePackage})
	if err != nil {
		t.Fatal(err)
	}
	api := &jobs.Client{Server: a.url, APIKey: key}
	clip, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "sample.mp4"))
	run := func(req jobs.Request) jobs.Job {
		j, _, err := api.Submit(ctx, req, "")
		if err != nil {
			t.Fatal(err)
		}
		if j, err = api.Wait(ctx, j.ID, 50*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
		return j
	}
	good := run(jobs.Request{Inputs: []string{clip}, Output: filepath.Join(dir, "out"), ContentID: "metered"})
	if good.State != jobs.StateCompleted || good.Result == nil {
		t.Fatalf("job: %+v", good)
	}
	bad := run(jobs.Request{Inputs: []string{a.cfgFile}, Output: filepath.Join(dir, "bad"), ContentID: "metered-bad"})
	if bad.State != jobs.StateFailed {
		t.Fatalf("job of a non-MP4 input: %+v", bad)
	}

	resp, err := http.Get(a.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(body)
	value := func(series string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(metrics)
		if m == nil {
			t.Fatalf("/metrics has no series %s", series)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	for series, want := range map[string]float64{
		observability.MetricJobRuns + `{outcome="completed"}`:                      1,
		observability.MetricJobRuns + `{outcome="failed"}`:                         1,
		observability.MetricJobQueueWait + `_count`:                                2,
		observability.MetricJobRunDuration + `_count{outcome="completed"}`:         1,
		observability.MetricJobAttempts + `_sum{outcome="completed"}`:              1,
		observability.MetricJobAttempts + `_count{outcome="failed"}`:               1,
		observability.MetricJobBytesRead:                                           float64(good.Result.InputBytes),
		observability.MetricJobRunDuration + `_bucket{outcome="failed",le="+Inf"}`: 1,
	} {
		if got := value(series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if w := value(observability.MetricJobBytesWritten); w < float64(good.Result.InputBytes)/2 {
		t.Errorf("%s = %v for an input of %d bytes", observability.MetricJobBytesWritten, w, good.Result.InputBytes)
	}
	if s := value(observability.MetricJobQueueWait + `_sum`); s <= 0 || s > 30 {
		t.Errorf("queue wait sum %v s, want (0, 30]", s)
	}

	var runs []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == observability.SpanJobRun {
			runs = append(runs, s)
		}
	}
	if len(runs) != 2 {
		t.Fatalf("%d job.run spans, want 2", len(runs))
	}
	for _, s := range runs {
		attrs := map[string]string{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.String()
			if v := kv.Value.String(); strings.Contains(v, "/v1/broker") || strings.Contains(v, "sig=") || strings.Contains(v, dir) {
				t.Errorf("span attribute %s=%q carries a URL or location", kv.Key, v)
			}
		}
		want := map[int64][2]string{good.ID: {"metered", "completed"}, bad.ID: {"metered-bad", "failed"}}
		id, _ := strconv.ParseInt(attrs["job.id"], 10, 64)
		w, ok := want[id]
		if !ok || attrs["content.id"] != w[0] || attrs["outcome"] != w[1] || attrs["job.attempt"] != "1" {
			t.Errorf("job.run span attributes %v, want job %d or %d with its content and outcome", attrs, good.ID, bad.ID)
		}
	}
}
