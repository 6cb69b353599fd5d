package jobs

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// TestJobS3ToS3 submits a job from a mezzanine object to an S3 prefix,
// resubmits it with the same Idempotency-Key, and waits: one job, run once
// by a worker that fetched its keys through the broker, whose output
// drmpipe verify decrypts with the store's key.
func TestJobS3ToS3(t *testing.T) {
	c := newCluster(t)
	w := c.worker(t, "--concurrency", "2")
	args := []string{"--content-id", "title-1", "-o", "s3://vod/title-1", "--idempotency-key", "title-1-v1", "s3://mezz/in/sample.mp4"}
	id := c.submit(t, args...)
	again, code := c.jobs(t, append([]string{"submit"}, args...)...)
	if code != 0 || lastLine(again) != id || !strings.Contains(again, "already submitted") {
		t.Fatalf("resubmit with the same idempotency key: exit %d, want job %s again:\n%s", code, id, again)
	}
	// The same key with another request is refused, not silently mapped.
	other, code := c.jobs(t, "submit", "--content-id", "title-1", "-o", "s3://vod/elsewhere", "--idempotency-key", "title-1-v1", "s3://mezz/in/sample.mp4")
	if code == 0 || !strings.Contains(other, "409") {
		t.Fatalf("same key, other output: exit %d, want a 409:\n%s", code, other)
	}
	out, code := c.jobs(t, "wait", id)
	if code != 0 || !strings.Contains(out, "completed") {
		t.Fatalf("jobs wait %s: exit %d\n%s", id, code, out)
	}
	show, code := c.jobs(t, "show", id)
	var j struct {
		State   string
		Attempt int
		Result  struct {
			Output string
			Tracks []struct{ Segments int }
		}
	}
	if code != 0 || json.Unmarshal([]byte(show), &j) != nil {
		t.Fatalf("jobs show: exit %d\n%s", code, show)
	}
	if j.State != "completed" || j.Attempt != 1 || j.Result.Output != "s3://vod/title-1" || len(j.Result.Tracks) == 0 {
		t.Fatalf("job after wait: %s", show)
	}
	list, _ := c.jobs(t, "list")
	if strings.Count(list, "s3://vod/title-1") != 1 {
		t.Fatalf("jobs list: want the one job:\n%s", list)
	}
	dir, objs := c.download(t, "vod", "title-1")
	if _, ok := objs["manifest.mpd"]; !ok {
		t.Fatalf("no manifest.mpd in the output: %d objects", len(objs))
	}
	v, code := c.run(t, nil, "verify", "--key", c.contentKey(t, "title-1"), dir)
	if code != 0 {
		t.Fatalf("drmpipe verify: exit %d\n%s", code, v)
	}
	// Key rotation: the worker gets the keys of every key period of its
	// input (10 s at 4 s: three) from the broker; each decrypts its period.
	rot := c.submit(t, "--content-id", "title-rot", "-o", "s3://vod/title-rot", "--key-period", "4s", "s3://mezz/in/sample.mp4")
	if out, code := c.jobs(t, "wait", rot); code != 0 {
		t.Fatalf("jobs wait %s (--key-period 4s): exit %d\n%s", rot, code, out)
	}
	ks := c.contentKeys(t, "title-rot")
	if len(ks) != 3 {
		t.Fatalf("content title-rot has %d keys, want one per key period (3)", len(ks))
	}
	rdir, _ := c.download(t, "vod", "title-rot")
	vargs := []string{"verify"}
	for _, k := range ks {
		vargs = append(vargs, "--key", k)
	}
	if v, code := c.run(t, nil, append(vargs, rdir)...); code != 0 {
		t.Fatalf("drmpipe verify with the three periods' keys: exit %d\n%s", code, v)
	}
	// No log line carries a credential: the API key, or a broker URL's
	// signature (the job's key credential).
	for name, log := range map[string]string{"serve": c.serve.out.String(), "worker": w.out.String()} {
		if strings.Contains(log, c.apiKey) || strings.Contains(log, c.workerKey) || strings.Contains(log, "sig=") {
			t.Errorf("%s log carries a credential:\n%s", name, log)
		}
	}
	// The worker never opened a key store or made a KEK of its own.
	if ents, err := os.ReadDir(c.workerDataDir); err != nil || len(ents) != 0 {
		t.Fatalf("worker data directory: %v %v", ents, err)
	}
}

type shownJob struct {
	State    string
	Attempt  int
	Errors   []struct{ Error string }
	Progress *struct{ Segments, BytesRead int64 }
}

func (c *cluster) show(t *testing.T, id string) shownJob {
	t.Helper()
	out, code := c.jobs(t, "show", id)
	var j shownJob
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil {
		t.Fatalf("jobs show %s: exit %d\n%s", id, code, out)
	}
	return j
}

// TestJobBadInputAndCancel: options no worker could carry out are refused
// on submit with the field named; a non-MP4 input and a missing object fail
// their job on the first attempt with the precise error in the job record
// (GET /v1/jobs/{id}), while a good job next to them completes; a job
// cancelled while queued never runs.
func TestJobBadInputAndCancel(t *testing.T) {
	c := newCluster(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--scheme", "cbcx"}, "scheme"},
		{[]string{"--key-period", "1s"}, "keyPeriod"},
		{[]string{"--keys-per", "track"}, "keysPer"},
		{[]string{"--iv", "00"}, "iv"},
	} {
		args := append([]string{"submit", "--content-id", "bad-opts", "-o", "s3://vod/bad-opts"}, tc.args...)
		out, code := c.jobs(t, append(args, "s3://mezz/in/sample.mp4")...)
		if code == 0 || !strings.Contains(out, "400") || !strings.Contains(out, tc.want) {
			t.Errorf("submit %v: exit %d, want a 400 naming %s:\n%s", tc.args, code, tc.want, out)
		}
	}
	cancelled := c.submit(t, "--content-id", "later", "-o", "s3://vod/later", "s3://mezz/in/sample.mp4")
	out, code := c.jobs(t, "cancel", cancelled)
	if code != 0 || !strings.Contains(out, "cancelled") {
		t.Fatalf("jobs cancel: exit %d\n%s", code, out)
	}
	notMP4 := c.submit(t, "--content-id", "not-mp4", "-o", "s3://vod/not-mp4", "s3://mezz/in/notmp4.mp4")
	missing := c.submit(t, "--content-id", "missing", "-o", "s3://vod/missing", "s3://mezz/in/missing.mp4")
	noBucket := c.submit(t, "--content-id", "no-bucket", "-o", "s3://nobucket/out", "s3://mezz/in/sample.mp4")
	good := c.submit(t, "--content-id", "good", "-o", "s3://vod/good", "s3://mezz/in/sample.mp4")
	c.worker(t, "--concurrency", "3")
	if out, code := c.jobs(t, "wait", good); code != 0 {
		t.Fatalf("good job: exit %d\n%s", code, out)
	}
	for _, tc := range []struct{ id, want string }{
		{notMP4, "s3://mezz/in/notmp4.mp4"},
		{missing, "s3://mezz/in/missing.mp4"},
		{noBucket, "s3://nobucket"},
	} {
		out, code := c.jobs(t, "wait", tc.id)
		if code == 0 || !strings.Contains(out, "failed") || !strings.Contains(out, tc.want) {
			t.Errorf("job %s: wait exit %d, want failed naming %s:\n%s", tc.id, code, tc.want, out)
		}
		j := c.show(t, tc.id)
		if j.State != "failed" || j.Attempt != 1 || len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Error, tc.want) || strings.Contains(j.Errors[0].Error, "JobCancelError") {
			t.Errorf("job %s: want failed on attempt 1 with the input named, got %+v", tc.id, j)
		}
	}
	if missingErr := c.show(t, missing).Errors; len(missingErr) == 1 && !strings.Contains(missingErr[0].Error, "not found") {
		t.Errorf("missing object: %q does not say not found", missingErr[0].Error)
	}
	out, code = c.jobs(t, "wait", cancelled)
	if code == 0 || !strings.Contains(out, "cancelled") {
		t.Errorf("wait on the cancelled job: exit %d\n%s", code, out)
	}
	if j := c.show(t, cancelled); j.State != "cancelled" || j.Attempt != 0 {
		t.Errorf("cancelled job ran: %+v", j)
	}
	if objs := c.gw.Objects(t, "vod", "later/"); len(objs) != 0 {
		t.Errorf("cancelled job wrote %d objects", len(objs))
	}
}

// TestServeWorkers: `drmpipe serve --workers 2` runs jobs itself, no
// worker process needed, on PostgreSQL and on the embedded defaults (the
// SQLite key store and queue under the data directory); two jobs (asset
// and track-type keys, cbcs and cenc) both complete.
func TestServeWorkers(t *testing.T) {
	for _, pg := range []bool{true, false} {
		t.Run(map[bool]string{true: "postgres", false: "sqlite"}[pg], func(t *testing.T) { serveWorkers(t, pg) })
	}
}

func serveWorkers(t *testing.T, postgres bool) {
	c := newClusterOn(t, postgres, "--workers", "2")
	a := c.submit(t, "--content-id", "one", "-o", "s3://vod/one", "s3://mezz/in/sample.mp4")
	b := c.submit(t, "--content-id", "two", "--keys-per", "track-type", "--scheme", "cenc", "-o", "s3://vod/two", "s3://mezz/in/sample.mp4")
	for _, id := range []string{a, b} {
		if out, code := c.jobs(t, "wait", "--timeout", "30s", id); code != 0 {
			t.Fatalf("job %s: exit %d\n%s", id, code, out)
		}
	}
	dir, _ := c.download(t, "vod", "one")
	if v, code := c.run(t, nil, "verify", "--key", c.contentKey(t, "one"), dir); code != 0 {
		t.Fatalf("drmpipe verify: %s", v)
	}
}

// TestJobWriteDenied: a worker whose S3 account may read the mezzanine
// bucket but write only under vod/allowed/ (a bucket policy) fails a job
// whose output is elsewhere in vod on its first attempt, with the refused
// location in the job record and nothing left there, and completes the
// job submitted with it.
func TestJobWriteDenied(t *testing.T) {
	c := newCluster(t)
	account := c.gw.CreateUser(t, "packager1", testtools.RandomHex(t, 20))
	c.gw.PutBucketPolicy(t, "mezz", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["packager1"]},
		"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::mezz","arn:aws:s3:::mezz/*"]}]}`)
	c.gw.PutBucketPolicy(t, "vod", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":["packager1"]},"Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::vod"]},
		{"Effect":"Allow","Principal":{"AWS":["packager1"]},"Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::vod/allowed/*"]}]}`)
	denied := c.submit(t, "--content-id", "denied", "-o", "s3://vod/denied", "s3://mezz/in/sample.mp4")
	good := c.submit(t, "--content-id", "allowed", "-o", "s3://vod/allowed/title", "s3://mezz/in/sample.mp4")
	// The worker's AWS_* are the account's (later variables win).
	w := c.start(t, append(append([]string{}, c.workerEnv...), account...), "worker", "--concurrency", "2")
	if !eventually(15*time.Second, func() bool { return strings.Contains(w.out.String(), "drmpipe worker running") }) {
		t.Fatalf("drmpipe worker did not start:\n%s", w.out)
	}
	if out, code := c.jobs(t, "wait", good); code != 0 {
		t.Fatalf("job writing under vod/allowed/: exit %d\n%s", code, out)
	}
	if out, code := c.jobs(t, "wait", denied); code == 0 || !strings.Contains(out, "failed") {
		t.Fatalf("job writing to vod/denied: exit %d, want failed\n%s", code, out)
	}
	j := c.show(t, denied)
	// The record says what failed, first, in drmpipe's words (no River
	// wrapper names).
	if j.State != "failed" || j.Attempt != 1 || len(j.Errors) != 1 ||
		!strings.HasPrefix(j.Errors[0].Error, "write s3://vod/denied/") || !strings.Contains(j.Errors[0].Error, "access denied") {
		t.Fatalf("job writing to vod/denied: want failed on attempt 1 with \"write s3://vod/denied/...: access denied\", got %+v", j)
	}
	if objs := c.gw.Objects(t, "vod", "denied/"); len(objs) != 0 {
		t.Errorf("%d objects under vod/denied/", len(objs))
	}
	if objs := c.gw.Objects(t, "vod", "allowed/title/"); objs["allowed/title/manifest.mpd"] == nil {
		t.Errorf("no manifest under vod/allowed/title/ (%d objects)", len(objs))
	}
}
