package server

import (
	"context"
	"io/fs"
	"os"

	"github.com/drmpipe/drmpipe/internal/jobs"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/observability"
	"github.com/drmpipe/drmpipe/web"
)

// jobs: the packaging jobs API on River (PostgreSQL, or the embedded
// SQLite file), the jobs page (/jobs/, built into the binary), and with --workers N that many package jobs at once in this
// process (drained on shutdown for up to server.shutdown_grace).
func (b *builder) jobs() error {
	c := b.cfg.Jobs
	if c.DSN == "" {
		if b.opts.Workers > 0 {
			return jobs.ErrNoDatabase
		}
		return nil
	}
	deps := jobs.QueueDeps{Workers: b.opts.Workers, Logger: b.log}
	// The API is made once the queue is open; the in-process workers ask
	// it for each job's broker URL as the job starts.
	var api *jobs.API
	if deps.Workers > 0 {
		w, err := jobs.NewWorker(jobs.WorkerDeps{Getenv: os.Getenv, Logger: b.log, Observer: observability.NewJobTracer(b.tp, b.metrics),
			Broker: jobs.BrokerURLFunc(func(ctx context.Context, id int64, base, recipient string, periods []keys.PeriodTimes) (string, error) {
				return api.BrokerURL(ctx, id, base, recipient, periods)
			})})
		if err != nil {
			return err
		}
		deps.Worker = w
	}
	q, err := jobs.Open(b.ctx, c, deps)
	if err != nil {
		return err
	}
	b.closer(q.Close)
	if deps.Workers > 0 {
		if err := q.Start(context.WithoutCancel(b.ctx)); err != nil {
			return err
		}
		b.closer(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Server.ShutdownGrace)
			defer cancel()
			return q.Stop(ctx)
		})
	}
	b.jobsQueue = q
	// A key that does not decode leaves submit refused (config.Validate
	// refuses it before `drmpipe serve` gets here).
	key, _ := delivery.ParseBrokerKey(b.cfg.Keys.BrokerHMACKey)
	s := b.cfg.SPEKE
	api = jobs.NewAPI(jobs.APIConfig{BrokerKey: key, BrokerTTL: b.cfg.Keys.BrokerURLTTL, Signaling: jobs.Signaling{
		Systems: s.Systems, WidevineProvider: s.WidevineProvider, PlayReadyLAURL: s.PlayReadyLAURL,
		ClearKeyLAURL: s.ClearKeyLAURL, FairPlayKeyURI: s.FairPlayKeyURI(),
	}}, jobs.APIDeps{Queue: q, Keys: b.ks, Periods: b.ks, Auth: b.auth, Log: b.log, Now: b.opts.Now})
	for _, r := range api.Routes() {
		b.mount(Route(r))
	}
	page, err := fs.Sub(web.Jobs, "jobs")
	if err != nil {
		return err
	}
	for _, r := range jobs.PageRoutes(page) {
		b.mount(Route(r))
	}
	return nil
}
