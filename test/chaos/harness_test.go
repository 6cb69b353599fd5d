// Package chaos runs real `drmpipe serve` processes (two replicas on one
// PostgreSQL and one redis-server, started on loopback by the test) under a
// steady ClearKey license load, injects faults (Redis killed, Redis hung,
// PostgreSQL stopped, a replica SIGKILLed) and checks what clients saw: no
// license granted after a revocation took effect, no revocation lost,
// bounded error windows, convergence times reported (hardening issue 16).
//
// `go test ./test/chaos` (and so `make test`) runs a short variant; `make
// chaos` runs each phase for CHAOS_PHASE (default there 15s). `make soak`
// runs TestSoak for SOAK_DURATION (10m there).
package chaos

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.yaml.in/yaml/v3"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

const (
	issuer   = "https://operator.example"
	audience = "drmpipe-chaos"
	// resync is policy.revocations.resync_interval of the replicas.
	resync = time.Second
)

// drmpipeBin is the CLI built once by TestMain, or $DRMPIPE_BIN when set.
var drmpipeBin string

func TestMain(m *testing.M) {
	os.Exit(testtools.MainWithDrmpipe(m, "chaos", &drmpipeBin))
}

// durationEnv reads a duration from the environment, or def.
func durationEnv(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 15s", name, v)
	}
	return d
}

// cluster is a deployment: its store and Redis, its configuration, an
// operator key that signs playback tokens, and its replicas.
type cluster struct {
	t        *testing.T
	pg       *testtools.Postgres
	rd       *testtools.Redis
	dir      string
	cfgFile  string
	opKey    *ecdsa.PrivateKey
	opKID    string
	kid      []byte // the content key's KID
	content  string
	adminKey string
	replicas []*replica
}

// newCluster writes the configuration, creates a content key and an admin
// API key with the CLI, and starts n replicas. withRedis false runs on the
// store alone (one replica, the embedded default).
func newCluster(t *testing.T, n int, withRedis bool) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), content: "chaos"}
	c.pg = testtools.StartPostgres(t)
	var err error
	var jwksFile string
	c.opKey, c.opKID, jwksFile = testtools.OperatorKey(t, c.dir)
	m := map[string]any{
		"server": map[string]any{"data_dir": filepath.Join(c.dir, "data"), "shutdown_grace": "5s"},
		"tokens": map[string]any{"issuer": issuer, "audiences": []string{audience}, "jwks_file": jwksFile},
		"store":  map[string]any{"dsn": c.pg.DSN},
		"policy": map[string]any{
			"default":     map[string]any{"max_uses": -1},
			"revocations": map[string]any{"resync_interval": resync.String()},
		},
		"license": map[string]any{"rate_limit": map[string]any{"per_ip": 0, "per_user": 0}},
	}
	if withRedis {
		c.rd = testtools.StartRedis(t)
		m["redis"] = map[string]any{"addr": c.rd.Addr}
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	c.cfgFile = filepath.Join(c.dir, "drmpipe.yaml")
	if err := os.WriteFile(c.cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	kid := strings.ReplaceAll(strings.TrimSpace(c.cli("keys", "create", "--content-id", c.content)), "-", "")
	if c.kid, err = hex.DecodeString(kid); err != nil || len(c.kid) != 16 {
		t.Fatalf("keys create printed %q, want a KID", kid)
	}
	c.adminKey = strings.TrimSpace(c.cli("apikey", "create", "--scope", "admin", "--name", "chaos"))
	for range n {
		r := &replica{c: c, port: testtools.FreePort(t)}
		r.start(t)
		c.replicas = append(c.replicas, r)
	}
	t.Cleanup(func() {
		for _, r := range c.replicas {
			r.stop()
		}
	})
	return c
}

// cli runs a drmpipe command on the cluster's configuration.
func (c *cluster) cli(args ...string) string {
	c.t.Helper()
	cmd := exec.Command(drmpipeBin, append(args, "--config", c.cfgFile)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("drmpipe %s: %v\n%s", args[0], err, errb.String())
	}
	return out.String()
}

// token signs a playback token for sub, as an operator backend would.
func (c *cluster) token(sub string) string {
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": issuer, "aud": audience, "sub": sub, "cid": c.content,
		"iat": now.Unix(), "exp": now.Add(20 * time.Second).Unix(), "jti": hex.EncodeToString(randBytes(12)),
	})
	tok.Header["kid"] = c.opKID
	s, err := tok.SignedString(c.opKey)
	if err != nil {
		panic(err)
	}
	return s
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// revoke asks replica r to revoke user and returns the answer's status; 200
// and 202 acknowledge the revocation (202: recorded, applied here, reaching
// the other replicas by the re-sync).
func (c *cluster) revoke(r *replica, user string) int {
	body, _ := json.Marshal(map[string]string{"kind": "user", "value": user, "reason": "chaos"})
	req, _ := http.NewRequest(http.MethodPost, r.url()+"/v1/admin/revocations", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.adminKey)
	req.Header.Set("Content-Type", "application/json")
	return statusOf(req)
}

// listsRevocation reports whether r's admin API lists user as revoked.
func (c *cluster) listsRevocation(r *replica, user string) bool {
	req, _ := http.NewRequest(http.MethodGet, r.url()+"/v1/admin/revocations", nil)
	req.Header.Set("Authorization", "Bearer "+c.adminKey)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && bytes.Contains(b, []byte(`"`+user+`"`))
}

// license asks r for a ClearKey license for user with a fresh token and
// returns the status (0 when no answer came).
func (c *cluster) license(r *replica, user string) int {
	kids, _ := json.Marshal(map[string]any{"kids": []string{base64.RawURLEncoding.EncodeToString(c.kid)}, "type": "temporary"})
	req, _ := http.NewRequest(http.MethodPost, r.url()+"/license/clearkey", bytes.NewReader(kids))
	req.Header.Set("Authorization", "Bearer "+c.token(user))
	req.Header.Set("Content-Type", "application/json")
	return statusOf(req)
}

// statusOf sends req and returns the answer's status, 0 when no answer came.
func statusOf(req *http.Request) int {
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

var client = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// replica is one `drmpipe serve` process on a fixed loopback port, so a
// restarted replica answers where the killed one did.
type replica struct {
	c    *cluster
	port int
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   sync.Mutex
}

func (r *replica) url() string { return fmt.Sprintf("http://127.0.0.1:%d", r.port) }

// start runs the process and waits until /healthz answers.
func (r *replica) start(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = &bytes.Buffer{}
	r.cmd = exec.Command(drmpipeBin, "serve", "--config", r.c.cfgFile, "--listen", fmt.Sprintf("127.0.0.1:%d", r.port))
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start drmpipe serve: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := client.Get(r.url() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica on port %d not healthy within 30s:\n%s", r.port, r.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs the process.
func (r *replica) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// stop ends the process gracefully (SIGTERM), or kills it after 10 s.
func (r *replica) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}

// ready reports whether /readyz answers 200.
func (r *replica) ready() bool {
	resp, err := client.Get(r.url() + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// result is one license request of the load.
type result struct {
	replica int
	user    string
	start   time.Time
	latency time.Duration
	status  int
}

// load sends license requests to every replica at a fixed rate until its
// context ends, for users picked round-robin from the pool plus every
// target user (revocation subjects, asked for as often as the rest).
type load struct {
	c       *cluster
	rate    int // requests per second per replica
	mu      sync.Mutex
	results []result
	targets []string
	wg      sync.WaitGroup
}

func (l *load) addTarget(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.targets = append(l.targets, user)
}

func (l *load) run(ctx context.Context) {
	for i := range l.c.replicas {
		for w := range 2 {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.worker(ctx, i, w)
			}()
		}
	}
}

func (l *load) worker(ctx context.Context, ri, w int) {
	interval := time.Second * 2 / time.Duration(l.rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		user := fmt.Sprintf("viewer-%d-%d", w, n%20)
		l.mu.Lock()
		if len(l.targets) > 0 && n%2 == 1 {
			user = l.targets[(n/2)%len(l.targets)]
		}
		l.mu.Unlock()
		start := time.Now()
		status := l.c.license(l.c.replicas[ri], user)
		l.mu.Lock()
		l.results = append(l.results, result{replica: ri, user: user, start: start, latency: time.Since(start), status: status})
		l.mu.Unlock()
	}
}

func (l *load) wait() { l.wg.Wait() }

// snapshot returns a copy of the results so far.
func (l *load) snapshot() []result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]result(nil), l.results...)
}
