package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	jobsapi "github.com/drmpipe/drmpipe/internal/jobs"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// scaleInput is one mezzanine object of TestScaleOut and its clear
// packets per stream (ffmpeg framemd5).
type scaleInput struct {
	key   string // in the bucket mezz
	clear map[string][]string
}

// TestScaleOut is issue 15's multi-process proof, on loopback: PostgreSQL,
// versitygw, two `drmpipe serve` replicas on the one database and three
// `drmpipe worker` processes (two jobs at once each). Twenty jobs from
// mezzanine objects in the bucket are submitted to the two replicas in
// turn. The workers reach versitygw through a proxy that adds latency to
// media uploads (s3Proxy). While six jobs run (the proxy holding their
// requests, so each worker is mid-job), one worker is killed (SIGKILL)
// and one told to stop (SIGTERM, drain);
// later PostgreSQL is stopped for a few seconds, and the last jobs are
// submitted into the outage, refused (503) and submitted again with their
// idempotency keys once it is back. Asserted: the drained worker exits 0
// promptly; both replicas list the same twenty jobs, each completed
// exactly once, the killed worker's jobs on a later attempt; every output
// decrypts with ffmpeg and its content's key to its input's packets; and a
// poller listing the bucket throughout never saw a manifest whose
// referenced files were not all there.
func TestScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process run with River's rescuer (about a minute)")
	}
	const total, late, perWorker = 20, 4, 2
	began := time.Now()
	c := newCluster(t)
	servers := []string{c.server, c.replica(t)}
	clients := make([]*jobsapi.Client, len(servers))
	for i, s := range servers {
		clients[i] = &jobsapi.Client{Server: s, APIKey: c.apiKey, HTTP: &http.Client{Timeout: 10 * time.Second}}
	}
	inputs := scaleInputs(t, c)
	// The workers reach the store through a proxy that delays media
	// uploads; attempts are bounded well above a small job's run time here,
	// and rescued after as long (the kill below leaves two jobs running on
	// no worker).
	proxy := newS3Proxy(t, c.gw.Endpoint, 50*time.Millisecond)
	wenv := append(append([]string{}, c.workerEnv...), "AWS_ENDPOINT_URL_S3="+proxy.URL,
		"DRMPIPE_JOBS__TIMEOUT=15s", "DRMPIPE_JOBS__RESCUE_AFTER=15s")
	var workers []*proc
	for range 3 {
		p := c.start(t, wenv, "worker", "--concurrency", fmt.Sprint(perWorker), "--drain-timeout", "20s")
		workers = append(workers, p)
	}
	for _, w := range workers {
		if !eventually(20*time.Second, func() bool { return strings.Contains(w.out.String(), "drmpipe worker running") }) {
			t.Fatalf("drmpipe worker did not start:\n%s", w.out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	poller := newManifestPoller(c.gw, "vod")
	stopPoller := poller.run(ctx)
	defer stopPoller()
	t.Logf("cluster up in %.1fs", time.Since(began).Seconds())

	type sub struct {
		idem   string
		req    jobsapi.Request
		input  scaleInput
		id     int64
		server int
	}
	subs := make([]*sub, total)
	for i := range subs {
		in := inputs[i%len(inputs)]
		req := jobsapi.Request{
			Inputs: []string{"s3://mezz/" + in.key}, Output: fmt.Sprintf("s3://vod/title-%02d", i),
			ContentID: fmt.Sprintf("title-%02d", i), SegmentDuration: "1s",
		}
		if i%3 == 1 {
			req.Scheme = "cenc"
		}
		subs[i] = &sub{idem: fmt.Sprintf("title-%02d-v1", i), req: req, input: in, server: i % 2}
	}
	submit := func(s *sub) error {
		j, _, err := clients[s.server].Submit(ctx, s.req, s.idem)
		if err == nil {
			s.id = j.ID
		}
		return err
	}

	// Hold the workers' store requests so that each worker takes two jobs
	// and stays in them.
	proxy.Hold()
	for _, s := range subs[:total-late] {
		if err := submit(s); err != nil {
			t.Fatalf("submit %s to %s: %v", s.idem, servers[s.server], err)
		}
	}
	var held []int64
	if !eventually(10*time.Second, func() bool {
		held = running(ctx, clients[0])
		return len(held) == 3*perWorker
	}) {
		t.Fatalf("%d jobs running with the store held, want %d (every worker busy)", len(held), 3*perWorker)
	}
	killed, drained, survivor := workers[0], workers[1], workers[2]
	if err := killed.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-killed.done
	if err := drained.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	termAt := time.Now()
	if !eventually(5*time.Second, func() bool { return strings.Contains(drained.out.String(), "draining") }) {
		t.Fatalf("worker did not start draining:\n%s", drained.out)
	}
	proxy.Release()
	select {
	case <-drained.done:
	case <-time.After(25 * time.Second):
		t.Fatalf("drained worker still running %s after SIGTERM:\n%s", time.Since(termAt), drained.out)
	}
	drainTook := time.Since(termAt)
	if code := drained.cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(drained.out.String(), "drmpipe worker stopped") {
		t.Fatalf("drained worker: exit %d:\n%s", code, drained.out)
	}

	// PostgreSQL away while the survivor works through the queue; the last
	// jobs are submitted into the outage.
	if !eventually(20*time.Second, func() bool { return countState(ctx, clients[1], jobsapi.StateCompleted) >= 3 }) {
		t.Fatalf("no progress after the drain")
	}
	c.pg.Stop()
	outage := time.Now()
	for _, s := range subs[total-late:] {
		err := submit(s)
		var ae *jobsapi.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
			t.Errorf("submit %s while PostgreSQL is down: %v, want a 503", s.idem, err)
		}
	}
	time.Sleep(3*time.Second - time.Since(outage))
	c.pg.Start(t)
	t.Logf("PostgreSQL down for %.1fs", time.Since(outage).Seconds())
	for _, s := range subs[total-late:] {
		// A retry with the idempotency key: once accepted, never twice.
		if !eventually(30*time.Second, func() bool { return submit(s) == nil }) {
			t.Fatalf("submit %s after PostgreSQL came back: %v", s.idem, submit(s))
		}
	}
	recovered := time.Since(outage)
	for _, s := range servers {
		if !becomesReady(s, 10*time.Second) {
			t.Errorf("%s not ready again after the outage", s)
		}
	}

	byID := map[int64]*sub{}
	for _, s := range subs {
		if byID[s.id] != nil {
			t.Fatalf("jobs %s and %s got the same ID %d", byID[s.id].idem, s.idem, s.id)
		}
		byID[s.id] = s
	}
	var final map[int64]jobsapi.Job
	if !eventually(90*time.Second, func() bool {
		final = map[int64]jobsapi.Job{}
		for id := range byID {
			j, err := clients[0].Get(ctx, id)
			if err != nil || !jobsapi.Ended(j.State) {
				return false
			}
			final[id] = j
		}
		return true
	}) {
		t.Fatalf("not every job ended; survivor:\n%s", survivor.out)
	}
	ran := time.Since(began)
	// Three more listings (the first may have begun before the last
	// manifests were up), so that the manifests of the jobs that ended
	// last are checked too, against a listing after the one that showed
	// them.
	if !poller.listsMore(3, 15*time.Second) {
		t.Errorf("the poller stopped listing the bucket")
	}
	stopPoller()

	// Both replicas: the same twenty jobs, each completed once.
	for i, cl := range clients {
		list, err := cl.List(ctx, 1000)
		if err != nil {
			t.Fatalf("list on %s: %v", servers[i], err)
		}
		if len(list) != total {
			t.Errorf("%s lists %d jobs, want %d", servers[i], len(list), total)
		}
		outputs := map[string]int{}
		for _, j := range list {
			outputs[j.Request.Output]++
			s := byID[j.ID]
			switch {
			case s == nil:
				t.Errorf("%s lists job %d, which was never submitted", servers[i], j.ID)
			case j.State != jobsapi.StateCompleted || j.Attempt < 1 || j.Result == nil || j.Request.Output != s.req.Output:
				t.Errorf("%s: job %d (%s): state %s, attempt %d, result %v", servers[i], j.ID, s.idem, j.State, j.Attempt, j.Result)
			case j.Attempt != final[j.ID].Attempt || j.State != final[j.ID].State:
				t.Errorf("%s: job %d at attempt %d %s, the other replica says %d %s", servers[i], j.ID, j.Attempt, j.State, final[j.ID].Attempt, final[j.ID].State)
			}
		}
		for out, n := range outputs {
			if n != 1 {
				t.Errorf("%s: %d jobs write %s", servers[i], n, out)
			}
		}
	}
	// The killed worker held two of the six: they ran again after River's
	// rescuer gave them back.
	var rescued []int64
	for _, id := range held {
		j := final[id]
		if j.Attempt >= 2 && slices.ContainsFunc(j.Errors, func(e jobsapi.JobError) bool { return strings.Contains(e.Error, "rescued") }) {
			rescued = append(rescued, id)
		}
	}
	if len(rescued) < perWorker {
		t.Errorf("%d of the jobs held at the kill were rescued, want the killed worker's %d: %v", len(rescued), perWorker, held)
	}
	attempts := 0
	for _, j := range final {
		attempts += j.Attempt
	}

	listings, checked, violations := poller.report()
	for _, v := range violations {
		t.Errorf("manifest before its files: %s", v)
	}
	var manifests int
	for _, s := range subs {
		prefix := strings.TrimPrefix(s.req.Output, "s3://vod/") + "/"
		for _, name := range []string{"manifest.mpd", "master.m3u8"} {
			if checked[prefix+name] == 0 {
				t.Errorf("the poller never checked %s%s", prefix, name)
			}
		}
		for k := range checked {
			if strings.HasPrefix(k, prefix) {
				manifests++
			}
		}
	}

	// Every output decrypts with its content's key to its input's packets.
	verifyStart := time.Now()
	t.Run("decrypt", func(t *testing.T) {
		for _, s := range subs {
			t.Run(s.req.ContentID, func(t *testing.T) {
				t.Parallel()
				decryptsToInput(t, c, s.req.ContentID, strings.TrimPrefix(s.req.Output, "s3://vod/"), s.input)
			})
		}
	})
	t.Logf("%d jobs (%d attempts) through 2 replicas and 3 workers (one killed, one drained in %.1fs, PostgreSQL down %.1fs then the API took submits again) in %.1fs; %d of the held jobs rescued; %d listings checked %d manifests; outputs decrypted in %.1fs",
		total, attempts, drainTook.Seconds(), recovered.Seconds(), ran.Seconds(), len(rescued), listings, manifests, time.Since(verifyStart).Seconds())
}

// running returns the IDs of the jobs the API reports running (nil when
// it cannot answer).
func running(ctx context.Context, cl *jobsapi.Client) []int64 {
	list, err := cl.List(ctx, 1000)
	if err != nil {
		return nil
	}
	var ids []int64
	for _, j := range list {
		if j.State == jobsapi.StateRunning {
			ids = append(ids, j.ID)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// countState counts the jobs in state (0 when the API cannot answer).
func countState(ctx context.Context, cl *jobsapi.Client, state string) int {
	list, err := cl.List(ctx, 1000)
	if err != nil {
		return 0
	}
	n := 0
	for _, j := range list {
		if j.State == state {
			n++
		}
	}
	return n
}

// scaleInputs makes three small distinct mezzanine files (B-frames and
// AAC, another frame rate, video only), uploads them to mezz/in/ and
// reads their clear packets.
func scaleInputs(t *testing.T, c *cluster) []scaleInput {
	t.Helper()
	var ins []scaleInput
	for i, o := range []testtools.ClipOptions{
		{Width: 320, Height: 180, Seconds: 4, GOPSeconds: 1, BFrames: 2, Audio: "aac"},
		{Width: 256, Height: 144, FPS: 25, Seconds: 3, GOPSeconds: 1, Audio: "aac"},
		{Width: 320, Height: 240, Seconds: 5, GOPSeconds: 1},
	} {
		clip := testtools.MakeClip(t, o)
		in := scaleInput{key: fmt.Sprintf("in/clip-%d.mp4", i), clear: map[string][]string{"v:0": testtools.FrameMD5(t, clip, "v:0", "")}}
		if o.Audio != "" {
			in.clear["a:0"] = testtools.FrameMD5(t, clip, "a:0", "")
		}
		c.gw.PutFile(t, "mezz", in.key, clip)
		ins = append(ins, in)
	}
	return ins
}

// decryptsToInput downloads vod/prefix and checks that every track
// decrypts with contentID's key to the packets of its stream in the input,
// and that there is a track for every stream of the input.
func decryptsToInput(t *testing.T, c *cluster, contentID, prefix string, in scaleInput) {
	t.Helper()
	key := c.contentKey(t, contentID)
	keyHex := key[strings.IndexByte(key, ':')+1:]
	dir, _ := c.download(t, "vod", prefix)
	seen := map[string]bool{}
	for _, d := range testtools.TrackDirs(t, dir) {
		stream := "v:0"
		if strings.HasPrefix(filepath.Base(d), "audio") {
			stream = "a:0"
		}
		seen[stream] = true
		got := testtools.FrameMD5(t, testtools.ConcatTrack(t, d), "0", keyHex)
		if !slices.Equal(got, in.clear[stream]) {
			t.Errorf("%s/%s: decrypted with %s's key, %d packets; the input's %s has %d, %d the same", prefix, filepath.Base(d), contentID, len(got), stream, len(in.clear[stream]), testtools.SameFrames(got, in.clear[stream]))
		}
	}
	if len(seen) != len(in.clear) {
		t.Errorf("%s: tracks for %v, the input has %d streams", prefix, seen, len(in.clear))
	}
}
