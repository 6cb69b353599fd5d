package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/keys/kms"
	"github.com/drmpipe/drmpipe/internal/keys/kms/kmstest"
	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// Every store test runs against both backends. PostgreSQL is one server for
// the whole test package (started in TestMain, a fresh database per test);
// tests in this package do not run in parallel, because the readiness test
// stops and restarts that server.
var (
	pg      *testtools.Postgres
	pgErr   string // why pg is nil
	pgAdmin *sql.DB
	pgSeq   atomic.Int64
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" { // a child process of a multi-process test
		os.Exit(m.Run())
	}
	tb := &mainTB{}
	done := make(chan struct{})
	go func() { // StartPostgres calls Fatalf, which ends this goroutine
		defer close(done)
		pg = testtools.StartPostgres(tb)
	}()
	<-done
	if pg == nil {
		pgErr = strings.Join(tb.errs, "; ")
	} else if a, err := sql.Open("pgx", pg.DSN); err != nil {
		pgErr, pg = err.Error(), nil
	} else {
		pgAdmin = a
	}
	code := m.Run()
	if pgAdmin != nil {
		pgAdmin.Close()
	}
	tb.cleanup()
	os.Exit(code)
}

// mainTB is the testing.TB StartPostgres gets in TestMain, where there is no
// test yet: failures are collected (each PostgreSQL test then fails with
// them) and cleanups run after m.Run.
type mainTB struct {
	testing.TB // nil: only the methods below are called
	mu         sync.Mutex
	errs       []string
	cleanups   []func()
}

func (*mainTB) Helper() {}
func (tb *mainTB) Errorf(format string, args ...any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.errs = append(tb.errs, fmt.Sprintf(format, args...))
}
func (tb *mainTB) Fatalf(format string, args ...any) { tb.Errorf(format, args...); runtime.Goexit() }
func (tb *mainTB) Fatal(args ...any)                 { tb.Fatalf("%s", fmt.Sprint(args...)) }
func (tb *mainTB) Cleanup(f func())                  { tb.cleanups = append(tb.cleanups, f) }
func (tb *mainTB) cleanup() {
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
}

// backend makes empty databases of one kind.
type backend struct {
	name string
	// newDB returns the DSN of a new, empty database (and for SQLite its
	// file) for one test; dir is the test's temp dir.
	newDB func(t testing.TB, dir string) (dsn, file string)
}

var backends = []backend{
	{"sqlite", func(_ testing.TB, dir string) (string, string) {
		f := filepath.Join(dir, "keys.db")
		return "sqlite:" + f, f
	}},
	{"postgres", newPostgresDB},
}

// requirePostgres fails (never skips) the test when the server is missing.
func requirePostgres(t testing.TB) {
	t.Helper()
	if pg == nil {
		t.Fatalf("PostgreSQL test server: %s", pgErr)
	}
}

func newPostgresDB(t testing.TB, _ string) (string, string) {
	t.Helper()
	requirePostgres(t)
	name := fmt.Sprintf("drmpipe_test_%d_%d", os.Getpid(), pgSeq.Add(1))
	if _, err := pgAdmin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { _, _ = pgAdmin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	return strings.Replace(pg.DSN, "/postgres?", "/"+name+"?", 1), ""
}

// eachBackend runs fn as a subtest per backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// eachStore runs fn on every backend with a fresh open store (see open).
func eachStore(t *testing.T, fn func(t *testing.T, ctx context.Context, s *Store)) {
	eachBackend(t, func(t *testing.T, b backend) { fn(t, context.Background(), open(t, b).store) })
}

type fixture struct {
	dir, kek string
	dsn      string
	file     string // the SQLite file; "" on PostgreSQL
	kms      *local.KMS
	store    *Store
	created  time.Time
}

// empty makes a temp dir and an empty database, and opens neither.
func empty(t testing.TB, b backend) fixture {
	t.Helper()
	f := fixture{dir: t.TempDir(), created: time.Now()}
	f.kek = filepath.Join(f.dir, local.DefaultFileName)
	f.dsn, f.file = b.newDB(t, f.dir)
	return f
}

// open makes a fixture with an open store under a fresh local KEK.
func open(t testing.TB, b backend) fixture {
	t.Helper()
	f := empty(t, b)
	var err error
	if f.kms, err = local.Open(f.kek); err != nil {
		t.Fatal(err)
	}
	f.store = f.reopen(t, f.kms)
	return f
}

// reopen opens another Store on the fixture's database, closed at the end.
func (f fixture) reopen(t testing.TB, w kms.Wrapper) *Store {
	t.Helper()
	s, err := Open(context.Background(), f.dsn, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dbBytes returns everything the database has on disk: the SQLite file with
// its WAL, shared-memory and journal files, or, on PostgreSQL after a
// CHECKPOINT, the database's directory and the server's WAL segments
// written since the fixture was made.
func (f fixture) dbBytes(t testing.TB) []byte {
	t.Helper()
	if f.file != "" {
		return kmstest.SQLiteFiles(f.file)
	}
	var blob []byte
	var dataDir string
	var oid int64
	name := f.dsn[strings.LastIndex(f.dsn, "/")+1 : strings.Index(f.dsn, "?")]
	if _, err := pgAdmin.Exec("CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	if err := pgAdmin.QueryRow("SHOW data_directory").Scan(&dataDir); err != nil {
		t.Fatal(err)
	}
	if err := pgAdmin.QueryRow("SELECT oid FROM pg_database WHERE datname = $1", name).Scan(&oid); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(dataDir, "base", fmt.Sprint(oid)), filepath.Join(dataDir, "pg_wal")} {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().IsRegular() && (filepath.Base(d) != "pg_wal" || !fi.ModTime().Before(f.created.Add(-time.Second))) {
				b, err := os.ReadFile(filepath.Join(d, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				blob = append(blob, b...)
			}
		}
	}
	return blob
}

// containsAny reports the first needle (each at least 4 bytes) found in
// blob, in one pass over blob: many needles times a PostgreSQL WAL segment
// would be slow with bytes.Contains each.
func containsAny(blob []byte, needles [][]byte) (int, bool) {
	byPrefix := map[uint32][]int{}
	for i, n := range needles {
		if len(n) < 4 {
			panic("containsAny: needle shorter than 4 bytes")
		}
		p := binary.LittleEndian.Uint32(n)
		byPrefix[p] = append(byPrefix[p], i)
	}
	for i := 0; i+4 <= len(blob); i++ {
		for _, j := range byPrefix[binary.LittleEndian.Uint32(blob[i:])] {
			if bytes.HasPrefix(blob[i:], needles[j]) {
				return j, true
			}
		}
	}
	return -1, false
}
