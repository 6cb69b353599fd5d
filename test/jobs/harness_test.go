// Package jobs runs packaging jobs end to end with real processes on
// loopback: PostgreSQL (River's queue and the key store), versitygw (S3
// inputs and outputs), `drmpipe serve` with the jobs API, `drmpipe worker`
// processes that hold neither the key store's DSN nor its KEK (they get
// keys through the key broker), and the `drmpipe jobs` client.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

var drmpipeBin string

func TestMain(m *testing.M) {
	os.Exit(testtools.MainWithDrmpipe(m, "jobs", &drmpipeBin))
}

// cluster is one deployment: PostgreSQL, versitygw with the buckets mezz
// (inputs) and vod (outputs), the server and its package API key.
type cluster struct {
	pg     *testtools.Postgres
	gw     *testtools.VersityGW
	server string // base URL
	apiKey string // scope package: drmpipe jobs
	// workerKey (scope worker) is the workers' DRMPIPE_API_KEY.
	workerKey string
	// serverEnv is the full configuration of the serving side (store,
	// KEK under dataDir, broker key); workerEnv only the queue, S3 and
	// workerKey.
	serverEnv, workerEnv []string
	dataDir              string
	workerDataDir        string
	clip                 string
	serve                *proc
}

// proc is a drmpipe process started by a test.
type proc struct {
	cmd  *exec.Cmd
	out  *testtools.SyncBuffer
	done chan struct{}
}

func newCluster(t *testing.T, serveArgs ...string) *cluster {
	t.Helper()
	return newClusterOn(t, true, serveArgs...)
}

// newClusterOn is newCluster with the key store and queue on PostgreSQL,
// or (postgres false) on the embedded SQLite defaults under the data
// directory.
func newClusterOn(t *testing.T, postgres bool, serveArgs ...string) *cluster {
	t.Helper()
	c := &cluster{gw: testtools.StartVersityGW(t), dataDir: t.TempDir(), workerDataDir: t.TempDir()}
	if postgres {
		c.pg = testtools.StartPostgres(t)
	}
	c.gw.CreateBucket(t, "mezz")
	c.gw.CreateBucket(t, "vod")
	clip, err := filepath.Abs(filepath.Join("..", "..", "testdata", "sample.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	c.clip = clip
	c.gw.PutFile(t, "mezz", "in/sample.mp4", clip)
	c.gw.Put(t, "mezz", "in/notmp4.mp4", strings.NewReader(strings.Repeat("this is not an MP4 file\n", 100)))
	aws := append(c.gw.Env(), "AWS_ENDPOINT_URL=")
	port := testtools.FreePort(t)
	c.server = fmt.Sprintf("http://127.0.0.1:%d", port)
	c.serverEnv = append([]string{
		"DRMPIPE_SERVER__DATA_DIR=" + c.dataDir,
		"DRMPIPE_SERVER__LISTEN=" + fmt.Sprintf("127.0.0.1:%d", port),
		"DRMPIPE_KEYS__BROKER_HMAC_KEY=" + testtools.RandomHex(t, 32),
		"DRMPIPE_KEYS__BROKER_RATE_LIMIT=0",
		"DRMPIPE_SERVER__DEMO=true", // playback tokens are not under test
	}, aws...)
	if postgres {
		c.serverEnv = append(c.serverEnv, "DRMPIPE_STORE__DSN="+c.pg.DSN)
	}
	// A worker knows the queue and S3, nothing of the key store nor the
	// broker key: its data directory is empty and its store.dsn the default
	// SQLite file there.
	c.workerEnv = append([]string{
		"DRMPIPE_SERVER__DATA_DIR=" + c.workerDataDir,
		"DRMPIPE_JOBS__TIMEOUT=5s",
		"DRMPIPE_JOBS__RESCUE_AFTER=5s",
		"DRMPIPE_JOBS__MAX_ATTEMPTS=3",
	}, aws...)
	if postgres {
		c.workerEnv = append(c.workerEnv, "DRMPIPE_JOBS__DSN="+c.pg.DSN)
	}
	out, code := c.run(t, c.serverEnv, "apikey", "create", "--scope", "package", "--name", "jobs-test")
	if code != 0 {
		t.Fatalf("apikey create: %s", out)
	}
	c.apiKey = lastLine(out)
	// Its one credential besides the queue: an API key of scope worker,
	// with which it gets each job's broker URL as the job starts.
	out, code = c.run(t, c.serverEnv, "apikey", "create", "--scope", "worker", "--name", "jobs-workers")
	if code != 0 {
		t.Fatalf("apikey create: %s", out)
	}
	c.workerKey = lastLine(out)
	c.workerEnv = append(c.workerEnv, "DRMPIPE_API_KEY="+c.workerKey)
	c.serve = c.startServe(t, c.server, c.serverEnv, serveArgs...)
	return c
}

// startServe starts `drmpipe serve` with env and waits until base answers
// /readyz.
func (c *cluster) startServe(t *testing.T, base string, env []string, args ...string) *proc {
	t.Helper()
	s := c.start(t, env, append([]string{"serve"}, args...)...)
	if !becomesReady(base, 15*time.Second) {
		t.Fatalf("drmpipe serve not ready:\n%s", s.out)
	}
	return s
}

// becomesReady reports whether the server at base answers /readyz with 200
// within d.
func becomesReady(base string, d time.Duration) bool {
	return eventually(d, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// replica starts a second `drmpipe serve` on the cluster's configuration
// (same store, queue and data directory) on a port of its own, and returns
// its base URL.
func (c *cluster) replica(t *testing.T) string {
	t.Helper()
	port := testtools.FreePort(t)
	// The later DRMPIPE_SERVER__LISTEN wins (os/exec keeps the last of
	// duplicate variables).
	env := append(append([]string{}, c.serverEnv...), fmt.Sprintf("DRMPIPE_SERVER__LISTEN=127.0.0.1:%d", port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c.startServe(t, base, env)
	return base
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

func command(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(drmpipeBin, args...)
	// Only what the test gives: no DRMPIPE_ or AWS_ variables of the
	// machine running the tests.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	return cmd
}

// run runs drmpipe to the end and returns its combined output and exit
// code.
func (c *cluster) run(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := command(env, args...)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	cmd.Env = command(env).Env
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("drmpipe %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// jobs runs `drmpipe jobs ...` against the server with the package key.
func (c *cluster) jobs(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return c.run(t, []string{"DRMPIPE_API_KEY=" + c.apiKey}, append([]string{"jobs", "--server", c.server}, args...)...)
}

// start starts a long-running drmpipe process, stopped (SIGKILL) when the
// test ends if still running.
func (c *cluster) start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: command(env, args...), out: &testtools.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("drmpipe %s:\n%s", strings.Join(args, " "), p.out)
		}
	})
	return p
}

// worker starts `drmpipe worker` and waits until it runs.
func (c *cluster) worker(t *testing.T, args ...string) *proc {
	t.Helper()
	p := c.start(t, c.workerEnv, append([]string{"worker"}, args...)...)
	if !eventually(15*time.Second, func() bool { return strings.Contains(p.out.String(), "drmpipe worker running") }) {
		t.Fatalf("drmpipe worker did not start:\n%s", p.out)
	}
	return p
}

var jobIDLine = regexp.MustCompile(`^[0-9]+$`)

// submit runs `drmpipe jobs submit` and returns the job ID it printed last.
func (c *cluster) submit(t *testing.T, args ...string) string {
	t.Helper()
	out, code := c.jobs(t, append([]string{"submit"}, args...)...)
	id := lastLine(out)
	if code != 0 || !jobIDLine.MatchString(id) {
		t.Fatalf("jobs submit %v: exit %d\n%s", args, code, out)
	}
	return id
}

// download writes the objects under bucket/prefix/ into a temp dir and
// returns it with the objects by relative name.
func (c *cluster) download(t *testing.T, bucket, prefix string) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	rel := map[string][]byte{}
	for k, data := range c.gw.Objects(t, bucket, prefix+"/") {
		name := strings.TrimPrefix(k, prefix+"/")
		rel[name] = data
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, rel
}

var kidLine = regexp.MustCompile(`(?m)^([0-9a-f-]{36})\s`)

// contentKey reads the content's key from the store (operator side) as
// KID:KEY for drmpipe verify.
func (c *cluster) contentKey(t *testing.T, contentID string) string {
	t.Helper()
	ks := c.contentKeys(t, contentID)
	if len(ks) != 1 {
		t.Fatalf("content %s has %d keys, want 1", contentID, len(ks))
	}
	return ks[0]
}

// contentKeys are all keys of contentID (every track type and key period)
// as KID:KEY for drmpipe verify --key.
func (c *cluster) contentKeys(t *testing.T, contentID string) []string {
	t.Helper()
	out, code := c.run(t, c.serverEnv, "keys", "list", "--content-id", contentID)
	ms := kidLine.FindAllStringSubmatch(out, -1)
	if code != 0 || ms == nil {
		t.Fatalf("keys list: exit %d\n%s", code, out)
	}
	var ks []string
	for _, m := range ms {
		out, code = c.run(t, c.serverEnv, "keys", "show", m[1], "--reveal")
		if code != 0 {
			t.Fatalf("keys show: %s", out)
		}
		key := regexp.MustCompile(`(?m)^key:\s+([0-9a-f]{32})$`).FindStringSubmatch(out)
		if key == nil {
			t.Fatalf("keys show printed no key:\n%s", out)
		}
		ks = append(ks, strings.ReplaceAll(m[1], "-", "")+":"+key[1])
	}
	return ks
}
