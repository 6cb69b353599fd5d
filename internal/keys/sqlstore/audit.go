package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/confcheck"
)

var _ apikey.AuditLog = (*Store)(nil)

// Audit appends an entry to the audit log (table audit_log, migration
// 00002). A zero At is now.
func (s *Store) Audit(ctx context.Context, e apikey.Entry) error {
	if err := apikey.ValidateEntry(e); err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return fmt.Errorf("sqlstore: audit: %w", err)
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO audit_log (id, at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
		hex.EncodeToString(id[:]), e.At.UnixMicro(), e.Actor, e.Action, e.Target, e.Detail)
	if err != nil {
		return fmt.Errorf("sqlstore: audit %s by %s: %w", e.Action, e.Actor, err)
	}
	return nil
}

// ListAudit returns the entries matching q, newest first.
func (s *Store) ListAudit(ctx context.Context, q apikey.AuditQuery) ([]apikey.Entry, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if q.Actor != "" {
		add("actor =", q.Actor)
	}
	if q.Target != "" {
		add("target =", q.Target)
	}
	if !q.Since.IsZero() {
		add("at >=", q.Since.UnixMicro())
	}
	query := auditColumns
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, q.EffectiveLimit())
	query += " ORDER BY at DESC, id DESC LIMIT $" + strconv.Itoa(len(args))
	out, err := s.queryAudit(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list audit: %w", err)
	}
	return out, nil
}

// AuditByAction returns the entries whose action is exactly one of actions
// at or after since (every one when since is zero), oldest first, without
// ListAudit's limit. The revocation service reads the durable record of
// revocations with it (its typed actions, package revocation): the live
// revocation state is restored from it at startup and re-synced from it
// while running. No actions selects nothing.
func (s *Store) AuditByAction(ctx context.Context, since time.Time, actions ...string) ([]apikey.Entry, error) {
	if len(actions) == 0 {
		return nil, nil
	}
	var sinceMicros int64 // at is never negative: zero reads everything
	if !since.IsZero() {
		sinceMicros = since.UnixMicro()
	}
	args := []any{sinceMicros}
	marks := make([]string, len(actions))
	for i, a := range actions {
		args = append(args, a)
		marks[i] = "$" + strconv.Itoa(len(args))
	}
	out, err := s.queryAudit(ctx, auditColumns+" WHERE action IN ("+strings.Join(marks, ", ")+") AND at >= $1 ORDER BY at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list audit by action: %w", err)
	}
	return out, nil
}

// auditColumns selects what queryAudit scans.
const auditColumns = "SELECT at, actor, action, target, detail FROM audit_log"

// queryAudit runs a query of auditColumns and returns its entries.
func (s *Store) queryAudit(ctx context.Context, query string, args ...any) ([]apikey.Entry, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []apikey.Entry
	for rows.Next() {
		var e apikey.Entry
		var at int64
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, err
		}
		e.At = time.UnixMicro(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// DefaultPruneBatch is how many rows one DELETE of PruneAudit removes at
// most: each batch is a short transaction of its own, so pruning a large
// backlog never holds PostgreSQL's row locks (or SQLite's write lock) for
// long, and Audit calls interleave with it.
const DefaultPruneBatch = 1000

// PruneAudit deletes the audit entries of apikey.PrunableActions (access
// and refusal rows) older than before, batch rows at a time (0 =
// DefaultPruneBatch), and returns how many it deleted. No other action is
// ever deleted: revocations are the durable record every replica restores (AuditByAction with the revocation actions)
// from, and admin actions are kept. It stops early, with the count so far,
// when ctx ends.
func (s *Store) PruneAudit(ctx context.Context, before time.Time, batch int) (int64, error) {
	batch = confcheck.PositiveOr(batch, DefaultPruneBatch)
	actions := apikey.PrunableActions()
	args := []any{before.UnixMicro()}
	marks := make([]string, len(actions))
	for i, a := range actions {
		args = append(args, a)
		marks[i] = "$" + strconv.Itoa(len(args))
	}
	args = append(args, batch)
	// The (action, at) index of migration 00004 serves the inner SELECT;
	// the id list keeps the statement portable (neither dialect has a
	// DELETE ... LIMIT in common).
	query := "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE action IN (" + strings.Join(marks, ", ") +
		") AND at < $1 ORDER BY at LIMIT $" + strconv.Itoa(len(args)) + ")"
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res, err := s.db.ExecContext(ctx, query, args...)
		if err != nil {
			return total, fmt.Errorf("sqlstore: prune audit log: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlstore: prune audit log: %w", err)
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
