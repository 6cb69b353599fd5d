package jobs

import (
	"bytes"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitRunning waits until job id is running (a worker took it).
func (c *cluster) waitRunning(t *testing.T, id string) {
	t.Helper()
	if !eventually(20*time.Second, func() bool { return c.show(t, id).State == "running" }) {
		t.Fatalf("job %s never ran: %+v", id, c.show(t, id))
	}
}

// TestJobWorkerKilled kills (SIGKILL) the worker process running a job
// while the job reads its input (the object store is paused to hold it
// there); River's rescuer gives the job to a second worker, which completes
// it, and the output is byte for byte the output of the same job run
// undisturbed. About 25 s: River's leader lease (15 s) and rescuer, not
// drmpipe, set the pace.
func TestJobWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's leader lease and rescuer (about 25 s)")
	}
	c := newCluster(t)
	a := c.worker(t)
	opts := []string{"--content-id", "rerun", "--iv", "000102030405060708090a0b0c0d0e0f"}
	ref := c.submit(t, append(opts, "-o", "s3://vod/ref", "s3://mezz/in/sample.mp4")...)
	if out, code := c.jobs(t, "wait", ref); code != 0 {
		t.Fatalf("reference job: %s", out)
	}
	c.gw.Pause(t)
	id := c.submit(t, append(opts, "-o", "s3://vod/killed", "s3://mezz/in/sample.mp4")...)
	c.waitRunning(t, id)
	time.Sleep(300 * time.Millisecond)
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.done
	c.gw.Resume(t)
	if j := c.show(t, id); j.State != "running" || j.Attempt != 1 {
		t.Fatalf("after the kill the job should still be on the dead worker: %+v", j)
	}
	start := time.Now()
	c.worker(t)
	out, code := c.jobs(t, "wait", "--timeout", "90s", id)
	if code != 0 {
		t.Fatalf("job %s after its worker was killed: exit %d\n%s", id, code, out)
	}
	t.Logf("completed on the second worker %.1fs after it started", time.Since(start).Seconds())
	if j := c.show(t, id); j.Attempt != 2 {
		t.Errorf("want 2 attempts (the killed one and the rescued one), got %+v", j)
	}
	_, want := c.download(t, "vod", "ref")
	dir, got := c.download(t, "vod", "killed")
	if len(got) != len(want) {
		t.Fatalf("%d objects after the rerun, the undisturbed job wrote %d", len(got), len(want))
	}
	var names []string
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !bytes.Equal(got[name], want[name]) {
			t.Errorf("%s differs from the undisturbed job's", name)
		}
	}
	if v, code := c.run(t, nil, "verify", "--key", c.contentKey(t, "rerun"), dir); code != 0 {
		t.Fatalf("drmpipe verify: %s", v)
	}
}

// TestWorkerDrainsOnSIGTERM: a worker told to stop while a job runs lets
// it finish, then exits 0; the job completed on its first attempt.
func TestWorkerDrainsOnSIGTERM(t *testing.T) {
	c := newCluster(t)
	w := c.worker(t, "--drain-timeout", "30s")
	c.gw.Pause(t)
	id := c.submit(t, "--content-id", "drain", "-o", "s3://vod/drain", "s3://mezz/in/sample.mp4")
	c.waitRunning(t, id)
	// The worker reports progress while the job runs (here: held at its
	// input, nothing written yet).
	if !eventually(5*time.Second, func() bool { return c.show(t, id).Progress != nil }) {
		t.Fatalf("no progress reported by a running job: %+v", c.show(t, id))
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool { return strings.Contains(w.out.String(), "draining") }) {
		t.Fatalf("worker did not start draining:\n%s", w.out)
	}
	time.Sleep(500 * time.Millisecond)
	c.gw.Resume(t)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("worker did not exit after draining:\n%s", w.out)
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(w.out.String(), "drmpipe worker stopped") {
		t.Fatalf("worker exit %d:\n%s", code, w.out)
	}
	if j := c.show(t, id); j.State != "completed" || j.Attempt != 1 {
		t.Fatalf("job after the drain: %+v", j)
	}
}
