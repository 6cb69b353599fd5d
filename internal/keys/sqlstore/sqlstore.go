// Package sqlstore is the SQL key store: content keys, envelope-encrypted by
// a kms.Wrapper, in SQLite (embedded default, WAL) or PostgreSQL (pgx
// through database/sql, so both backends share every query), behind
// keys.Store and one set of goose migrations. The same database holds the
// API keys (APIKeys, implementing apikey.Backend) and the audit log (Audit,
// ListAudit).
//
// Get-or-create is race-free across goroutines and processes because the
// schema allows one active key per (content ID, track type, period) (a
// partial unique index): every contender inserts its candidate with ON
// CONFLICT DO NOTHING, and all of them then read the one row that won. On
// PostgreSQL the losing INSERT waits for the winner's commit, then does
// nothing; plain READ COMMITTED suffices.
//
// KID-addressed keys (GetOrCreateKID, origin 'kid') converge the same way
// on the primary key: the first insert of a KID wins, every contender then
// reads that row, and checks that it belongs to the asked content ID and is
// active. The slot index covers slot keys (origin 'slot') only (migration
// 00003), so KID-addressed keys never take or block a slot.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/filelock"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
)

// Store is a keys.Store on a SQL database.
type Store struct {
	db      *sql.DB
	w       kms.Wrapper
	dialect goose.Dialect

	// getStmt is Get's query, prepared on first use (and again after a
	// failed attempt): Get is on every license request's path.
	getMu   sync.Mutex
	getStmt atomic.Pointer[sql.Stmt]

	// exhaustedMarks counts MarkTokenExhausted calls (expired rows are
	// pruned every pruneExhaustedEvery).
	exhaustedMarks atomic.Uint64
}

var _ keys.Store = (*Store)(nil)

// maxAttempts bounds get-or-create retries when the winning key of a slot is
// revoked between our insert and our read.
const maxAttempts = 8

// Open opens the store named by dsn and brings its schema up to date.
// "sqlite:PATH" or a bare PATH opens (creating, mode 0600) a SQLite database
// file; "postgres://..." or "postgresql://..." (a libpq URL, see pgconn)
// connects to an existing PostgreSQL database.
func Open(ctx context.Context, dsn string, w kms.Wrapper) (*Store, error) {
	if w == nil {
		return nil, ErrNoKMS
	}
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, w)
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), w)
	case strings.Contains(dsn, "://"):
		return nil, fmt.Errorf("%w: %q (want sqlite:PATH, a file path, or postgres://...)", ErrDSN, redactDSN(dsn))
	}
	return openSQLite(ctx, dsn, w)
}

// redactDSN drops anything that could be a password.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		return dsn[:i+3] + "..."
	}
	return dsn
}

// sqliteParams: wait for locks instead of failing (busy_timeout); WAL so
// readers never block on the writer; synchronous=FULL because a key handed
// to a packager must survive power loss (a lost row would mean a second,
// different key for content already encrypted); every explicit transaction
// takes the write lock up front (_txlock=immediate) so none fails late with
// SQLITE_BUSY on upgrade.
const sqliteParams = "_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"

func openSQLite(ctx context.Context, path string, w kms.Wrapper) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("%w: SQLite path %q (want a plain file path without ? or #)", ErrDSN, path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlstore: data directory: %w", err)
	}
	// Create the file ourselves so it (and the -wal/-shm files SQLite gives
	// the same mode) is 0600 whatever the umask.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	f.Close()

	// The first connection switches a new database to WAL, which SQLite
	// refuses with SQLITE_BUSY (without waiting) while another process does
	// the same; so connect and migrate under the data directory's lock.
	unlock, err := filelock.Lock(path + "-migrate.lock")
	if err != nil {
		return nil, fmt.Errorf("%w: lock: %w", ErrMigrate, err)
	}
	defer unlock()
	db, err := sql.Open("sqlite", path+"?"+sqliteParams)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	if err := migrate(ctx, db, goose.DialectSQLite3); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, w: w, dialect: goose.DialectSQLite3}, nil
}

// Connection bounds of the PostgreSQL backend. A connect that takes longer
// than pgConnectTimeout fails (unless the DSN sets connect_timeout), so a
// server that is down or unreachable fails requests and readiness promptly.
const (
	pgConnectTimeout = 5 * time.Second
	pgMaxConns       = 16
)

func openPostgres(ctx context.Context, dsn string, w kms.Wrapper) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors redact the password, but say nothing of ours.
		return nil, fmt.Errorf("%w: %s: cannot parse PostgreSQL URL", ErrDSN, redactDSN(dsn))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect %s: %w", redactDSN(dsn), err)
	}
	// Processes migrating one database at once serialise on a session-level
	// advisory lock (pg_try_advisory_lock, retried every second for two
	// minutes); the lock dies with the session if a migrator does.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 120))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	if err := migrate(ctx, db, goose.DialectPostgres, goose.WithSessionLocker(locker)); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, w: w, dialect: goose.DialectPostgres}, nil
}

// Backend names the database behind the store: "sqlite" or "postgres".
func (s *Store) Backend() string {
	if s.dialect == goose.DialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// pingTimeout bounds Ping when ctx has no earlier deadline.
const pingTimeout = 3 * time.Second

// Ping checks that the database answers a query (readiness). It returns
// within pingTimeout, or ctx's deadline if earlier.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, s.Backend(), err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	if st := s.getStmt.Load(); st != nil {
		_ = st.Close()
	}
	return s.db.Close()
}

func (s *Store) getStatement(ctx context.Context) (*sql.Stmt, error) {
	if st := s.getStmt.Load(); st != nil {
		return st, nil
	}
	s.getMu.Lock()
	defer s.getMu.Unlock()
	if st := s.getStmt.Load(); st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, "SELECT "+keyColumns+" FROM content_keys WHERE kid = $1")
	if err != nil {
		return nil, err
	}
	s.getStmt.Store(st)
	return st, nil
}

// KMSName is the name of the KMS backend wrapping this store's new keys.
func (s *Store) KMSName() string { return s.w.Name() }

const keyColumns = "kid, content_id, track_type, period, state, wrapped_key, key_ref, kms, iv, created_at, rotated_at, revoked_at, origin"

type row struct {
	kid, contentID, trackType, state, wrapped, keyRef, kms, origin string
	period                                                         int64
	iv                                                             sql.NullString
	created                                                        int64
	rotated, revoked                                               sql.NullInt64
}

func (r *row) scan(sc interface{ Scan(...any) error }) error {
	return sc.Scan(&r.kid, &r.contentID, &r.trackType, &r.period, &r.state, &r.wrapped, &r.keyRef, &r.kms, &r.iv, &r.created, &r.rotated, &r.revoked, &r.origin)
}

// record decodes a row's metadata (everything but the clear key).
func (r *row) record() (keys.StoredKey, error) {
	var k keys.StoredKey
	var err error
	if k.KID, err = drm.ParseKeyID(r.kid); err != nil {
		return k, fmt.Errorf("%w: kid: %w", ErrCorruptRow, err)
	}
	if k.TrackType, err = keys.ParseTrackType(r.trackType); err != nil {
		return k, fmt.Errorf("%w: KID %s: %w", ErrCorruptRow, k.KID, err)
	}
	if k.State, err = keys.ParseKeyState(r.state); err != nil {
		return k, fmt.Errorf("%w: KID %s: %w", ErrCorruptRow, k.KID, err)
	}
	if k.Origin, err = keys.ParseKeyOrigin(r.origin); err != nil {
		return k, fmt.Errorf("%w: KID %s: %w", ErrCorruptRow, k.KID, err)
	}
	if r.period < 0 || r.period > 1<<32-1 {
		return k, fmt.Errorf("%w: KID %s: period %d", ErrCorruptRow, k.KID, r.period)
	}
	k.ContentID, k.Period = r.contentID, uint32(r.period)
	k.CreatedAt = time.UnixMicro(r.created).UTC()
	if r.rotated.Valid {
		k.RotatedAt = time.UnixMicro(r.rotated.Int64).UTC()
	}
	if r.revoked.Valid {
		k.RevokedAt = time.UnixMicro(r.revoked.Int64).UTC()
	}
	k.Key.KID = k.KID
	if r.iv.Valid && r.iv.String != "" {
		if k.Key.IV, err = hex.DecodeString(r.iv.String); err != nil {
			return k, fmt.Errorf("%w: KID %s: iv is not hex", ErrCorruptRow, k.KID)
		}
	}
	return k, nil
}

// unwrap returns the row's clear content key. Any KMS failure is returned
// as is (wrapped): there is no fallback.
func (s *Store) unwrap(ctx context.Context, r *row, kid drm.KeyID) ([]byte, error) {
	if r.kms != s.w.Name() {
		return nil, fmt.Errorf("%w: KID %s is wrapped by KMS %q, store uses %q", ErrKMSMismatch, kid, r.kms, s.w.Name())
	}
	wrapped, err := base64.StdEncoding.DecodeString(r.wrapped)
	if err != nil {
		return nil, fmt.Errorf("%w: KID %s: wrapped key is not base64", ErrCorruptRow, kid)
	}
	key, err := s.w.Unwrap(ctx, kid, r.contentID, wrapped, r.keyRef)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: unwrap KID %s: %w", kid, err)
	}
	if len(key) != 16 {
		clear(key)
		return nil, fmt.Errorf("%w: KID %s unwraps to %d bytes", ErrCorruptRow, kid, len(key))
	}
	return key, nil
}

func (s *Store) full(ctx context.Context, r *row) (keys.StoredKey, error) {
	k, err := r.record()
	if err != nil {
		return k, err
	}
	if k.Key.Key, err = s.unwrap(ctx, r, k.KID); err != nil {
		return keys.StoredKey{}, err
	}
	return k, nil
}

// GetOrCreate implements keys.Store.
func (s *Store) GetOrCreate(ctx context.Context, contentID string, t keys.TrackType, period uint32) (keys.ContentKey, error) {
	if err := keys.ValidateSlot(contentID, t, period); err != nil {
		return keys.ContentKey{}, err
	}
	for range maxAttempts {
		var r row
		err := r.scan(s.db.QueryRowContext(ctx,
			"SELECT "+keyColumns+" FROM content_keys WHERE content_id = $1 AND track_type = $2 AND period = $3 AND state = 'active' AND origin = 'slot'",
			contentID, t.String(), int64(period)))
		if err == nil {
			k, err := s.full(ctx, &r)
			return k.Key, err // an existing key that does not unwrap is an error, never replaced
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return keys.ContentKey{}, fmt.Errorf("sqlstore: get key of %q %s period %d: %w", contentID, t, period, err)
		}
		kid, err := randomKID()
		if err != nil {
			return keys.ContentKey{}, err
		}
		// A random KID that happens to exist also makes the insert do
		// nothing; the next round then tries another.
		k, won, err := s.tryCreate(ctx, kid, contentID, t, period, keys.OriginSlot)
		if err != nil || won {
			return k, err
		}
		// Another writer filled the slot first: read its key.
	}
	return keys.ContentKey{}, fmt.Errorf("%w: slot %q %s period %d changed %d times", keys.ErrStoreConflict, contentID, t, period, maxAttempts)
}

// GetOrCreateKID implements keys.Store. The KID is the caller's (a SPEKE
// encryptor's ContentKey@kid): the key of exactly that KID is returned or
// created, so an encryptor that retries, or several that race, get one key.
func (s *Store) GetOrCreateKID(ctx context.Context, contentID string, kid drm.KeyID, t keys.TrackType, period uint32) (keys.ContentKey, error) {
	if err := keys.ValidateKID(contentID, kid, t, period); err != nil {
		return keys.ContentKey{}, err
	}
	for range maxAttempts {
		k, found, err := s.keyOfKID(ctx, contentID, kid)
		if err != nil || found {
			return k, err
		}
		k, won, err := s.tryCreate(ctx, kid, contentID, t, period, keys.OriginKID)
		if err != nil || won {
			return k, err
		}
		// Another writer inserted the KID first: read its row.
	}
	return keys.ContentKey{}, fmt.Errorf("%w: KID %s changed %d times", keys.ErrStoreConflict, kid, maxAttempts)
}

// keyOfKID reads the key of kid for GetOrCreateKID. found is false when the
// store has no such KID. The content ID is checked before the state, so a
// KID of another content reveals nothing about that content's key.
func (s *Store) keyOfKID(ctx context.Context, contentID string, kid drm.KeyID) (keys.ContentKey, bool, error) {
	var r row
	err := r.scan(s.db.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM content_keys WHERE kid = $1", kid.Hex()))
	if errors.Is(err, sql.ErrNoRows) {
		return keys.ContentKey{}, false, nil
	}
	if err != nil {
		return keys.ContentKey{}, false, fmt.Errorf("sqlstore: get KID %s: %w", kid, err)
	}
	if r.contentID != contentID {
		return keys.ContentKey{}, true, fmt.Errorf("%w: KID %s is not a key of content %q", keys.ErrKIDConflict, kid, contentID)
	}
	if r.state != keys.StateActive.String() {
		return keys.ContentKey{}, true, fmt.Errorf("%w: KID %s of content %q", keys.ErrKeyRevoked, kid, contentID)
	}
	k, err := s.full(ctx, &r)
	if err != nil {
		return keys.ContentKey{}, true, err // an existing key that does not unwrap is an error, never replaced
	}
	return k.Key, true, nil
}

// randomKID returns a version 4 UUID.
func randomKID() (drm.KeyID, error) {
	var kid drm.KeyID
	if _, err := rand.Read(kid[:]); err != nil {
		return kid, fmt.Errorf("sqlstore: random KID: %w", err)
	}
	kid[6] = kid[6]&0x0f | 0x40 // RFC 9562 §5.4: UUID version 4
	kid[8] = kid[8]&0x3f | 0x80 // RFC 9562 §4.1: variant 10
	return kid, nil
}

// tryCreate inserts a fresh key under kid. won is false when the insert
// did nothing: for a slot key, another writer's key took the slot first (or
// kid exists); for a KID-addressed key, another writer inserted kid first.
func (s *Store) tryCreate(ctx context.Context, kid drm.KeyID, contentID string, t keys.TrackType, period uint32, origin keys.KeyOrigin) (k keys.ContentKey, won bool, err error) {
	buf := make([]byte, 16+16)
	if _, err := rand.Read(buf); err != nil {
		return k, false, fmt.Errorf("sqlstore: random key: %w", err)
	}
	key, iv := buf[:16], buf[16:]
	wrapped, ref, err := s.w.Wrap(ctx, kid, contentID, key)
	if err != nil {
		clear(buf)
		return k, false, fmt.Errorf("sqlstore: wrap new key for %q %s: %w", contentID, t, err)
	}
	res, err := s.db.ExecContext(ctx,
		"INSERT INTO content_keys ("+keyColumns+") VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, NULL, NULL, $10) ON CONFLICT DO NOTHING",
		kid.Hex(), contentID, t.String(), int64(period), base64.StdEncoding.EncodeToString(wrapped), ref, s.w.Name(),
		hex.EncodeToString(iv), time.Now().UTC().UnixMicro(), origin.String())
	if err != nil {
		clear(buf)
		return k, false, fmt.Errorf("sqlstore: insert key for %q %s: %w", contentID, t, err)
	}
	n, err := res.RowsAffected()
	if err != nil || n != 1 {
		clear(buf)
		return k, false, err
	}
	return keys.ContentKey{KID: kid, Key: key, IV: iv}, true, nil
}

// Get implements keys.Store.
func (s *Store) Get(ctx context.Context, kid drm.KeyID) (keys.StoredKey, error) {
	st, err := s.getStatement(ctx)
	if err != nil {
		return keys.StoredKey{}, fmt.Errorf("sqlstore: get KID %s: %w", kid, err)
	}
	var r row
	err = r.scan(st.QueryRowContext(ctx, kid.Hex()))
	if errors.Is(err, sql.ErrNoRows) {
		return keys.StoredKey{}, fmt.Errorf("%w: KID %s", keys.ErrKeyNotFound, kid)
	}
	if err != nil {
		return keys.StoredKey{}, fmt.Errorf("sqlstore: get KID %s: %w", kid, err)
	}
	return s.full(ctx, &r)
}

// List implements keys.Store.
func (s *Store) List(ctx context.Context, contentID string) ([]keys.StoredKey, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+keyColumns+" FROM content_keys WHERE content_id = $1 ORDER BY created_at, kid", contentID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list %q: %w", contentID, err)
	}
	defer rows.Close()
	var out []keys.StoredKey
	for rows.Next() {
		var r row
		if err := r.scan(rows); err != nil {
			return nil, fmt.Errorf("sqlstore: list %q: %w", contentID, err)
		}
		k, err := r.record()
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list %q: %w", contentID, err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].TrackType != out[j].TrackType {
			return out[i].TrackType < out[j].TrackType
		}
		return out[i].Period < out[j].Period
	})
	return out, nil
}

// GetByContent implements keys.Store.
func (s *Store) GetByContent(ctx context.Context, contentID string, kid drm.KeyID) (keys.StoredKey, error) {
	var r row
	err := r.scan(s.db.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM content_keys WHERE kid = $1 AND content_id = $2", kid.Hex(), contentID))
	if errors.Is(err, sql.ErrNoRows) {
		return keys.StoredKey{}, fmt.Errorf("%w: KID %s of content %q", keys.ErrKeyNotFound, kid, contentID)
	}
	if err != nil {
		return keys.StoredKey{}, fmt.Errorf("sqlstore: get KID %s of %q: %w", kid, contentID, err)
	}
	return s.full(ctx, &r)
}

// Revoke implements keys.Store.
func (s *Store) Revoke(ctx context.Context, kid drm.KeyID) error {
	res, err := s.db.ExecContext(ctx,
		"UPDATE content_keys SET state = 'revoked', revoked_at = $1 WHERE kid = $2 AND state = 'active'",
		time.Now().UTC().UnixMicro(), kid.Hex())
	if err != nil {
		return fmt.Errorf("sqlstore: revoke KID %s: %w", kid, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil
	}
	var one int
	err = s.db.QueryRowContext(ctx, "SELECT 1 FROM content_keys WHERE kid = $1", kid.Hex()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: KID %s", keys.ErrKeyNotFound, kid)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: revoke KID %s: %w", kid, err)
	}
	return nil // already revoked
}
