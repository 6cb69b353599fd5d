package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
)

// AppOptions are what the command line adds to the configuration.
type AppOptions struct {
	Logger *slog.Logger
	// WebDir holds the demo player page (web/player) and the npm packages
	// it loads (web/node_modules); served under /web/ in demo mode.
	WebDir string
	// TracerProvider overrides the configured one (tests use an in-memory
	// exporter); nil = from configuration.
	TracerProvider trace.TracerProvider
	// Registry overrides the metrics registry; nil = a new one.
	Registry *prometheus.Registry
	// Workers > 0 runs that many packaging jobs at once in this process
	// (drmpipe serve --workers); needs jobs.dsn.
	Workers int
	// Now is the clock of broker URL signing and expiry (tests); nil =
	// time.Now.
	Now func() time.Time
}

// App is a fully assembled `drmpipe serve`.
type App struct {
	Server   *Server
	Keys     *keystore.KeyStore
	Signer   *entitlement.Signer
	APIKeys  *apikey.Store
	Registry *prometheus.Registry
	closers  []func() error
	patterns []string
	refusals *apikey.Aggregator
}

// FlushAudit writes the aggregated audit entries counted so far (refused
// broker requests) now instead of at the end of their window.
func (a *App) FlushAudit(ctx context.Context) error {
	if a.refusals == nil {
		return nil
	}
	return a.refusals.Flush(ctx)
}

// Routes lists the "METHOD /pattern" of every endpoint NewApp mounted, the
// server's own (health, readiness, origin) first; api/openapi.yaml documents
// each.
func (a *App) Routes() []string { return append([]string(nil), a.patterns...) }

// Close releases everything NewApp opened, in reverse order.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NewApp opens the key store, KMS, Redis, entitlement service and license
// endpoints described by cfg and mounts them on a Server:
//
//	POST /speke/v1/copyProtection, /speke/v2/copyProtection   SPEKE key provider (API key, scope speke)
//	POST /license/clearkey                                     ClearKey licenses (playback token)
//	POST /license/{widevine,playready,fairplay}                vendor gateway (configured upstreams)
//	GET  /license/fairplay/certificate
//	POST /v1/tokens, GET /.well-known/jwks.json                drmpipe-minted playback tokens
//	/v1/admin/...                                              admin API (API key, scope admin)
//	GET|POST /v1/broker/cpix                                   strict-broker key delivery (signed URL)
//	POST|GET /v1/jobs, GET /v1/jobs/{id}, POST .../cancel, .../broker-url  packaging jobs (API key, scope package; jobs.dsn)
//	GET  /content/...                                          packaged outputs (origin)
//	GET  /metrics, /healthz, /readyz
//	POST /demo/token, GET /web/...                             demo mode only
func NewApp(ctx context.Context, cfg *config.Config, opts AppOptions) (app *App, err error) {
	b := &builder{ctx: ctx, cfg: cfg, opts: opts, log: opts.Logger, app: &App{}}
	if b.log == nil {
		b.log = slog.Default()
	}
	// The App is passed in: an error return sets the named result to nil
	// before deferred calls run.
	defer func(a *App) {
		if err != nil {
			_ = a.Close()
		}
	}(b.app)
	for _, step := range []func() error{
		b.observability, b.keyStore, b.redis, b.entitlement, b.licenses, b.vendorGateway,
		b.revocations, b.speke, b.tokensAndAdmin, b.broker, b.jobs, b.liveChannels, b.operations, b.server,
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return b.app, nil
}
