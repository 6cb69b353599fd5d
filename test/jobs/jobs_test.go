package jobs

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJobS3ToS3 submits a job from a mezzanine object to an S3 prefix,
// resubmits it with the same Idempotency-Key, and waits: one job, run once
// by a worker that fetched its keys through the broker, whose output
// drmpipe verify decrypts with the store's key.
func TestJobS3ToS3(t *testing.T) {
	c := newCluster(t)
	c.worker(t, "--concurrency", "2")
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
}
