// Package jobs is packaging on River (PostgreSQL): the package job kind,
// the worker that runs it with keys from the strict broker, and the
// domain side of the jobs API (submit with idempotency keys, list, show,
// cancel). A job may run more than once (River retries, a worker killed
// mid-job and rescued): every run writes the same bytes at the same names,
// since the IV is fixed on submit, the keys come from the store by content
// ID, and the outputs replace whole objects (S3: media first, manifests
// last) or a whole directory at once.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// PackageArgs are the stored arguments of a package job.
type PackageArgs struct {
	// Idempotency is the API principal and the client's Idempotency-Key
	// (or a random one); River inserts one job per value.
	Idempotency string    `json:"idempotency" river:"unique"`
	Request     Request   `json:"request"`
	Signaling   Signaling `json:"signaling"`
	// KeysURL is the signed, expiring, content-scoped broker URL the
	// worker fetches the job's keys from (never shown by the API).
	KeysURL string `json:"keysUrl"`
}

// Kind is River's job kind.
func (PackageArgs) Kind() string { return "package" }

// InsertOpts make the idempotency value unique among jobs that are not
// cancelled or failed (River's default unique states).
func (PackageArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Queue is the River client of the API side (insert, read, cancel) and,
// with workers, of the worker side: on PostgreSQL, or on an embedded
// SQLite file for the single-machine default.
type Queue struct {
	client riverClient
	db     database
	cfg    Config
}

// riverClient is what Queue uses of a river.Client, whichever its driver.
type riverClient interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
}

// database is the queue's connection pool beside River.
type database interface {
	Ping(ctx context.Context) error
	// setProgress writes a running job's progress into its metadata.
	setProgress(ctx context.Context, id int64, progress []byte) error
	Close()
}

// QueueDeps are what Open needs beyond the configuration.
type QueueDeps struct {
	// Workers > 0 runs that many package jobs at once in this process with
	// Worker; 0 = insert and read only.
	Workers int
	Worker  *Worker
	Logger  *slog.Logger
}

// migrationLock is the PostgreSQL advisory lock key (an arbitrary
// constant, "drmpipe jobs") that serializes River's migrations between
// processes starting together.
const migrationLock = 0x6a6f6273

// Open connects to cfg.DSN (PostgreSQL or sqlite:PATH), brings River's
// tables up to date and makes the client. With workers, Start begins
// fetching.
func Open(ctx context.Context, cfg Config, deps QueueDeps) (*Queue, error) {
	if cfg.DSN == "" {
		return nil, ErrNoDatabase
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	rc := &river.Config{
		Logger:               deps.Logger,
		MaxAttempts:          cfg.MaxAttempts,
		JobTimeout:           cfg.Timeout,
		RescueStuckJobsAfter: cfg.rescueAfter(),
	}
	if deps.Workers > 0 {
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, deps.Worker); err != nil {
			return nil, err
		}
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: deps.Workers}}
	}
	q := &Queue{cfg: cfg}
	var err error
	if path, ok := strings.CutPrefix(cfg.DSN, sqlitePrefix); ok {
		q.db, q.client, err = openSQLite(ctx, path, rc)
	} else {
		q.db, q.client, err = openPostgres(ctx, cfg.DSN, rc)
	}
	if err != nil {
		return nil, err
	}
	if deps.Workers > 0 {
		deps.Worker.db = q.db
	}
	return q, nil
}

func openPostgres(ctx context.Context, dsn string, rc *river.Config) (database, riverClient, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("jobs.dsn: %w", err)
	}
	db := pgDB{pool}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, nil, err
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return db, client, nil
}

type pgDB struct{ *pgxpool.Pool }

func (db pgDB) setProgress(ctx context.Context, id int64, progress []byte) error {
	_, err := db.Exec(ctx, `UPDATE river_job SET metadata = jsonb_set(metadata, '{progress}', $1::jsonb, true) WHERE id = $2 AND state = 'running'`, string(progress), id)
	return err
}

func (db pgDB) migrate(ctx context.Context) error {
	// A session lock on a connection of its own: River's migrations run
	// one transaction per version (a new enum value cannot be used in the
	// transaction that adds it).
	conn, err := db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("jobs database: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("jobs database: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock) }()
	m, err := rivermigrate.New(riverpgxv5.New(db.Pool), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs database: River migrations: %w", err)
	}
	return nil
}

// Start begins working jobs (a Queue opened with workers).
func (q *Queue) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop drains: no new jobs are fetched and the running ones may finish
// until ctx ends; then they are cancelled and handed back to the queue
// (River retries them, on this or another worker).
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		hard, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = q.client.StopAndCancel(hard)
	}
	return err
}

// Close releases the database connections (after Stop, for workers).
func (q *Queue) Close() error {
	q.db.Close()
	return nil
}

// Ping checks the database (readiness).
func (q *Queue) Ping(ctx context.Context) error { return q.db.Ping(ctx) }

// submit inserts a job; an existing job with the same idempotency value is
// returned instead (dup true) when its request is the same, ErrConflict
// when not.
func (q *Queue) submit(ctx context.Context, args PackageArgs) (job *rivertype.JobRow, dup bool, err error) {
	if args.Idempotency == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		args.Idempotency = "random:" + hex.EncodeToString(b)
	}
	res, err := q.client.Insert(ctx, args, nil)
	if err != nil {
		return nil, false, err
	}
	if res.UniqueSkippedAsDuplicate {
		var prev PackageArgs
		if err := json.Unmarshal(res.Job.EncodedArgs, &prev); err != nil {
			return nil, false, err
		}
		if !prev.Request.equal(args.Request) {
			return nil, false, fmt.Errorf("%w (job %d)", ErrConflict, res.Job.ID)
		}
	}
	return res.Job, res.UniqueSkippedAsDuplicate, nil
}

func (q *Queue) get(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	j, err := q.client.JobGet(ctx, id)
	if errors.Is(err, river.ErrNotFound) || err == nil && j.Kind != (PackageArgs{}).Kind() {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return j, err
}

func (q *Queue) list(ctx context.Context, limit int) ([]*rivertype.JobRow, error) {
	res, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(PackageArgs{}.Kind()).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit))
	if err != nil {
		return nil, err
	}
	return res.Jobs, nil
}

func (q *Queue) cancel(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	if _, err := q.get(ctx, id); err != nil {
		return nil, err
	}
	j, err := q.client.JobCancel(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return nil, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return j, err
}
