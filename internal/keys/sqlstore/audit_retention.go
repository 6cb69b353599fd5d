package sqlstore

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// AuditPruner applies the audit log's retention policy while a server runs:
// every interval it deletes the access and refusal rows older than the
// retention period (PruneAudit, in short batches). Several replicas may
// prune the same database: the deletes are idempotent.
type AuditPruner struct {
	store     *Store
	retention time.Duration
	interval  time.Duration
	log       *slog.Logger
	now       func() time.Time

	started atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewAuditPruner returns a pruner of s keeping rows for retention (> 0),
// run every interval (> 0). log may be nil.
func NewAuditPruner(s *Store, retention, interval time.Duration, log *slog.Logger) *AuditPruner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AuditPruner{store: s, retention: retention, interval: interval, log: log, now: time.Now,
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Start prunes once now and then every interval until Close.
func (p *AuditPruner) Start() {
	if p.started.Swap(true) {
		return
	}
	go func() {
		defer close(p.done)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-p.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			p.prune(ctx)
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (p *AuditPruner) prune(ctx context.Context) {
	cutoff := p.now().Add(-p.retention)
	n, err := p.store.PruneAudit(ctx, cutoff, 0)
	switch {
	case err != nil && ctx.Err() == nil:
		p.log.Warn("audit log pruning failed", "deleted", n, "error", err.Error())
	case n > 0:
		p.log.Info("audit log pruned", "deleted", n, "older_than", cutoff.UTC().Format(time.RFC3339))
	}
}

// Close stops the pruner, interrupting a prune under way (the batches
// already deleted stay deleted).
func (p *AuditPruner) Close() error {
	p.once.Do(func() { close(p.stop) })
	if p.started.Load() {
		<-p.done
	}
	return nil
}
