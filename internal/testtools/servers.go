package testtools

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serverHint is appended to "server missing" failures.
const serverHint = "run `make deps` (installs redis-server, postgresql and softhsm2 with apt-get)"

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testtools: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitTCP(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Redis is a redis-server started for one test on loopback.
type Redis struct {
	Addr string
	bin  string
	dir  string
	cmd  *exec.Cmd
}

// Stop kills the server (tests use it to check "Redis down" behaviour).
func (r *Redis) Stop() {
	if r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot be reaped otherwise
		_ = r.cmd.Process.Kill()
		_, _ = r.cmd.Process.Wait()
	}
}

// Pause freezes the server with SIGSTOP: its connections stay open and
// accept bytes, but nothing is answered (a hung Redis, unlike a dead one,
// which refuses connections at once). Resume undoes it; Stop kills a paused
// server too.
func (r *Redis) Pause(t testing.TB) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("testtools: pause redis-server: %v", err)
	}
}

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume(t testing.TB) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("testtools: resume redis-server: %v", err)
	}
}

// StartRedis starts redis-server on a free loopback port with no
// persistence, stopped at the end of the test. It fails (never skips) when
// redis-server is not installed.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testtools: redis-server not found: %s", serverHint)
	}
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), bin: bin, dir: t.TempDir()}
	r.Start(t)
	t.Cleanup(r.Stop)
	return r
}

// Start (re)starts a stopped server on the same address, empty (a Redis
// that lost its data).
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	r.cmd = exec.Command(r.bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", r.dir, "--protected-mode", "yes")
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("testtools: start redis-server: %v", err)
	}
	if err := waitTCP(r.Addr, 10*time.Second); err != nil {
		t.Fatalf("testtools: redis-server did not come up: %v", err)
	}
}

// Postgres is a PostgreSQL server started for one test package on loopback.
type Postgres struct {
	// DSN connects as the superuser "postgres" to database "postgres".
	DSN  string
	Port int
	dir  string
	bin  string
}

func postgresBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && strings.Contains(real, "/postgresql/") {
			return filepath.Dir(real), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("initdb not found")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

// asPostgresUser runs a command as the postgres OS user when we are root
// (PostgreSQL refuses to run as root).
func asPostgresUser(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

// StartPostgres initialises a throw-away cluster in a temp dir and starts it
// on a free loopback port (initdb/pg_ctl, as the postgres user when root).
// Stop it with Stop; it fails (never skips) when PostgreSQL is missing.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, err := postgresBinDir()
	if err != nil {
		t.Fatalf("testtools: PostgreSQL server binaries not found (%v): %s", err, serverHint)
	}
	base, err := os.MkdirTemp("", "drmpipe-pg-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(base, 0o777)
	dir := filepath.Join(base, "data")
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres:postgres", base).CombinedOutput(); err != nil {
			t.Fatalf("testtools: chown: %v %s", err, out)
		}
	}
	if out, err := asPostgresUser(filepath.Join(bin, "initdb"), "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("testtools: initdb: %v\n%s", err, out)
	}
	port := FreePort(t)
	p := &Postgres{Port: port, dir: dir, bin: bin,
		DSN: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	p.Start(t)
	t.Cleanup(func() { p.Stop(); os.RemoveAll(base) })
	return p
}

// Start (re)starts a stopped server.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c fsync=off", p.Port, filepath.Dir(p.dir))
	if out, err := asPostgresUser(filepath.Join(p.bin, "pg_ctl"), "-D", p.dir, "-o", opts, "-w", "-t", "30", "-l", filepath.Join(filepath.Dir(p.dir), "log"), "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(p.dir), "log"))
		t.Fatalf("testtools: pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server immediately (fast shutdown).
func (p *Postgres) Stop() {
	_ = asPostgresUser(filepath.Join(p.bin, "pg_ctl"), "-D", p.dir, "-m", "fast", "-w", "stop").Run()
}
