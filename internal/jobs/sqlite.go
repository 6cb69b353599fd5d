package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// sqlitePrefix starts an embedded queue's DSN: sqlite:PATH.
const sqlitePrefix = "sqlite:"

// EmbeddedFileName is the embedded queue's file under the data directory.
const EmbeddedFileName = "jobs.db"

// sqliteParams: wait for the write lock rather than fail, WAL so readers
// (the API) do not block the workers, and BEGIN IMMEDIATE transactions.
const sqliteParams = "_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"

func openSQLite(ctx context.Context, path string, rc *river.Config) (database, riverClient, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("jobs.dsn: %w", err)
	}
	sdb, err := sql.Open("sqlite", path+"?"+sqliteParams)
	if err != nil {
		return nil, nil, fmt.Errorf("jobs.dsn: %w", err)
	}
	// One connection: SQLite has one writer, and River's driver shares it
	// between the API, the workers and the maintenance services.
	sdb.SetMaxOpenConns(1)
	db := sqliteDB{sdb}
	m, err := rivermigrate.New(riversqlite.New(sdb), nil)
	if err == nil {
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		sdb.Close()
		return nil, nil, fmt.Errorf("jobs database %s: River migrations: %w", path, err)
	}
	// No LISTEN/NOTIFY on SQLite: workers poll, often, since the database
	// is a local file (River's default of 1 s made a job wait 0.5 s on
	// average before it started).
	rc.PollOnly = true
	rc.FetchPollInterval = sqlitePollInterval
	client, err := river.NewClient(riversqlite.New(sdb), rc)
	if err != nil {
		sdb.Close()
		return nil, nil, err
	}
	return db, client, nil
}

// sqlitePollInterval is how often workers on SQLite look for jobs.
const sqlitePollInterval = 100 * time.Millisecond

type sqliteDB struct{ db *sql.DB }

func (d sqliteDB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

func (d sqliteDB) Close() { _ = d.db.Close() }

func (d sqliteDB) setProgress(ctx context.Context, id int64, progress []byte) error {
	_, err := d.db.ExecContext(ctx, `UPDATE river_job SET metadata = json_set(metadata, '$.progress', json(?)) WHERE id = ? AND state = 'running'`, string(progress), id)
	return err
}
