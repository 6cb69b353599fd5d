package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/drmpipe/drmpipe/internal/admin"
	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/jobs"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/live"
	"github.com/drmpipe/drmpipe/internal/netlimit"
	"github.com/drmpipe/drmpipe/internal/observability"
	"github.com/drmpipe/drmpipe/internal/redisbreaker"
	"github.com/drmpipe/drmpipe/internal/revocation"
	"github.com/drmpipe/drmpipe/internal/speke"
)

// builder assembles an App one component at a time (NewApp runs its steps
// in order); each step reads what the earlier ones built.
type builder struct {
	ctx  context.Context
	cfg  *config.Config
	opts AppOptions
	log  *slog.Logger
	app  *App

	tp      trace.TracerProvider
	metrics *observability.Metrics
	routes  []Route

	ks       *keystore.KeyStore
	keyReads *keys.LookupCache
	auth     *apikey.HTTPAuthenticator

	rdb        *redis.Client
	redisGuard redis.Hook

	signer    *entitlement.Signer
	live      entitlement.Revocations
	redisBack <-chan struct{}
	ent       *entitlement.Service

	trusted []netip.Prefix
	cache   license.Cache
	ldeps   license.Deps
	epCfg   license.EndpointConfig
	cors    func(http.Handler) http.Handler
	revSvc  *revocation.Service
	tokens  *admin.TokenHandlers

	jobsQueue *jobs.Queue
}

func (b *builder) closer(fn func() error) { b.app.closers = append(b.app.closers, fn) }

func (b *builder) mount(rs ...Route) { b.routes = append(b.routes, rs...) }

// observability: the tracer provider (unless given) and the metrics.
func (b *builder) observability() error {
	b.tp = b.opts.TracerProvider
	if b.tp == nil {
		tp, shutdown, err := observability.NewTracerProvider(b.ctx, b.cfg.Observability.Tracing)
		if err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		b.tp = tp
		b.closer(func() error {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return shutdown(sctx)
		})
	}
	b.app.Registry = b.opts.Registry
	if b.app.Registry == nil {
		b.app.Registry = prometheus.NewRegistry()
	}
	b.metrics = observability.NewMetrics(b.app.Registry)
	return nil
}

// keyStore: the key store and its KMS (traced), the audit pruner and the
// API keys.
func (b *builder) keyStore() error {
	ksCfg := b.cfg.KeyStore()
	ksCfg.WrapKMS = observability.KMSTracing(b.tp, b.metrics)
	ks, err := keystore.Open(b.ctx, ksCfg)
	if err != nil {
		return err
	}
	b.ks, b.app.Keys = ks, ks
	b.closer(ks.Close)
	// License requests read keys and key-period times through a one-second cache
	// (keys.LookupCache); key reads that miss it are traced.
	b.keyReads = keys.NewLookupCache(observability.TracedKeys(ks, b.tp, b.metrics), ks, nil)
	// store.audit.retention: old access and refusal rows go; revocations
	// and admin actions stay.
	if r := b.cfg.Store.Audit.Retention; r > 0 {
		pruner := sqlstore.NewAuditPruner(ks.Store, r, b.cfg.Store.Audit.PruneInterval, b.log)
		pruner.Start()
		b.closer(pruner.Close)
	}
	b.app.APIKeys = ks.APIKeys()
	b.auth = apikey.NewHTTPAuthenticator(b.app.APIKeys)
	return nil
}

// redis: the shared client when redis.addr is set. Short timeouts and few
// retries: a Redis outage must cost milliseconds per request, not seconds.
// A hung Redis (connections open, no answers) must cost nothing at all
// once noticed: every command goes through one circuit breaker
// (redis.timeout each), shared with the license cache's client.
func (b *builder) redis() error {
	c := b.cfg.Redis
	if c.Addr == "" {
		return nil
	}
	redis.SetLogger(redisLogger{b.log})
	breaker := redisbreaker.New(c.Breaker(func(state string) {
		b.metrics.SetRedisBreakerState(state)
		b.log.Warn("redis circuit breaker", "state", state)
	}))
	b.metrics.SetRedisBreakerState(breaker.State())
	b.redisGuard = breaker.Hook()
	b.rdb = redis.NewClient(c.Options())
	b.rdb.AddHook(b.redisGuard)
	b.closer(b.rdb.Close)
	return nil
}

// server: the HTTP server with every route and the readiness checks.
func (b *builder) server() error {
	checks := []Check{
		{Name: "store", Check: b.ks.Ping},
		{Name: "kms", Check: b.ks.CheckKMS},
		{Name: "revocations", Check: func(context.Context) error { return b.live.Ready() }},
	}
	if b.jobsQueue != nil {
		checks = append(checks, Check{Name: "jobs", Check: b.jobsQueue.Ping})
	}
	if b.rdb != nil {
		checks = append(checks, Check{Name: "redis", Check: func(ctx context.Context) error { return b.rdb.Ping(ctx).Err() }})
	}
	s := b.cfg.Server
	srv, err := New(Config{
		Listen: s.Listen, TLSCertFile: s.TLS.CertFile, TLSKeyFile: s.TLS.KeyFile, TLSClientCAFile: s.TLS.ClientCAFile,
		ReadHeaderTimeout: s.ReadHeaderTimeout, ReadTimeout: s.ReadTimeout,
		WriteTimeout: s.WriteTimeout, IdleTimeout: s.IdleTimeout,
		MaxBodyBytes: s.MaxBodyBytes, ShutdownGrace: s.ShutdownGrace,
		ContentDir:  filepath.Join(s.DataDir, "content"),
		Connections: netlimit.Config{MaxConns: s.MaxConnections, MaxConnsPerIP: s.MaxConnectionsPerIP, Exempt: b.trusted},
	}, Deps{Logger: b.log, Routes: b.routes, Checks: checks, Connections: b.metrics, OriginWrap: func(h http.Handler) http.Handler {
		return observability.HTTPHandler(h, observability.SpanCDNFetchSegment, b.tp)
	}})
	if err != nil {
		return err
	}
	b.app.Server = srv
	b.app.patterns = []string{"GET /healthz", "GET /readyz", "GET /content/", "HEAD /content/"}
	for _, rt := range b.routes {
		b.app.patterns = append(b.app.patterns, rt.Pattern)
	}
	return nil
}

// operations: /metrics and, in demo mode, the demo token endpoint and
// player page.
func (b *builder) operations() error {
	if m := b.cfg.Observability.Metrics; m.Enabled {
		b.mount(Route{"GET " + m.Path, observability.Handler(b.app.Registry)})
	}
	if b.cfg.Server.Demo {
		b.mount(Route{"POST /demo/token", http.HandlerFunc(b.tokens.Demo)})
		if b.opts.WebDir != "" {
			b.mount(demoRoutes(b.opts.WebDir)...)
		}
	}
	return nil
}

// revocations: the revocation service (admin API) and the re-sync of the
// live list from the audit log. Recorded in the store's audit log,
// applied to the live list; each one applied here purges the license
// cache and calls the CDN purge webhooks. The audit log is the durable
// record: restored now, re-read every policy.revocations.resync_interval
// and when Redis is back.
func (b *builder) revocations() error {
	revSvc, err := revocation.New(revocation.Config{PurgeWebhooks: b.cfg.License.PurgeWebhooks, CloseGrace: b.cfg.Server.ShutdownGrace},
		revocation.Deps{Keys: b.ks, Audit: b.ks, Live: b.live, Cache: b.cache, Metrics: b.metrics, Logger: b.log})
	if err != nil {
		return err
	}
	b.revSvc = revSvc
	b.closer(revSvc.Close)
	sync, err := entitlement.NewRevocationSync(b.cfg.Policy.Revocations,
		entitlement.RevocationSyncDeps{Log: revSvc, Revocations: b.live, Wake: b.redisBack, Logger: b.log})
	if err != nil {
		return err
	}
	if err := sync.Restore(b.ctx); err != nil {
		return err
	}
	sync.Start()
	b.closer(sync.Close)
	return nil
}

// speke: the SPEKE key provider; API keys, or client certificates (mTLS).
func (b *builder) speke() error {
	c := b.cfg.SPEKE
	var auth Authenticator = b.auth
	if len(c.MTLSClients) > 0 {
		allowed := map[string]bool{}
		for _, n := range c.MTLSClients {
			allowed[n] = true
		}
		auth = mtlsAuthenticator{scope: "speke", allowed: allowed, next: b.auth}
	}
	h := speke.NewHandler(c, speke.Deps{Keys: b.ks, Periods: b.ks, Auth: auth, Logger: b.log})
	traced := observability.HTTPHandler(h, observability.SpanSPEKERequest, b.tp)
	b.mount(Route{"POST " + speke.PathV1, traced}, Route{"POST " + speke.PathV2, traced})
	return nil
}

// liveChannels: live channels, CMAF ingest and the published output.
func (b *builder) liveChannels() error {
	c := b.cfg.SPEKE
	channels := live.NewChannels(b.ks.Store)
	lc := b.cfg.Live
	lp, err := live.New(live.Config{Dir: lc.Dir, ReplicaID: lc.ReplicaID, LeaseTTL: lc.LeaseTTL, WidevineProvider: c.WidevineProvider,
		PlayReadyLAURL: c.PlayReadyLAURL, ClearKeyLAURL: c.ClearKeyLAURL, FairPlayKeyURI: c.FairPlayKeyURI(),
		ArchiveDir: filepath.Join(b.cfg.Server.DataDir, "content")},
		live.Deps{Channels: channels, Keys: b.ks, Leases: b.ks.Store, Auth: b.auth, Log: b.log, Metrics: b.metrics})
	if err != nil {
		return err
	}
	b.closer(lp.Close)
	for _, r := range admin.ChannelRoutes(admin.ChannelDeps{Channels: channels, Runtime: lp, Auth: b.auth, Audit: b.ks, Log: b.log}) {
		b.mount(Route(r))
	}
	ingest, output := lp.IngestHandler(), lp.OutputHandler()
	b.mount(Route{"PUT " + live.IngestPrefix, ingest}, Route{"POST " + live.IngestPrefix, ingest}, Route{"DELETE " + live.IngestPrefix, ingest},
		Route{"GET " + live.OutputPrefix, output}, Route{"HEAD " + live.OutputPrefix, output})
	return nil
}

// tokensAndAdmin: drmpipe-minted tokens, the JWKS, and the admin API.
func (b *builder) tokensAndAdmin() error {
	b.tokens = admin.NewTokenHandlers(b.signer, b.auth, b.cfg.Tokens.MaxLifetime, b.log)
	b.mount(Route{"POST /v1/tokens", http.HandlerFunc(b.tokens.Mint)}, Route{"GET /.well-known/jwks.json", http.HandlerFunc(b.tokens.JWKS)})
	for _, r := range admin.Routes(admin.Deps{Keys: b.ks, Revocations: b.revSvc, Auth: b.auth, AllowReveal: b.cfg.Keys.AllowReveal, Log: b.log}) {
		b.mount(Route(r))
	}
	return nil
}

// broker: strict-broker key delivery. Refused broker requests are counted
// in memory and written one row per (client, reason, content) a minute;
// the last counts on Close.
func (b *builder) broker() error {
	refusals := apikey.NewAggregator(apikey.AggregatorConfig{}, b.ks.Audit)
	refusals.Start(func(err error) { b.log.Warn("audit log write of refused broker requests failed", "error", err.Error()) })
	b.app.refusals = refusals
	b.closer(refusals.Close)
	deps := delivery.Deps{Keys: b.ks, Auth: b.auth, Audit: b.ks.Audit, Refused: refusals, ClientIP: b.ldeps.ClientIP, Log: b.log, Now: b.opts.Now}
	kc := b.cfg.Keys
	// A key that does not decode turns the feature off with an error log
	// (config.Validate refuses it before `drmpipe serve` gets here).
	key, err := delivery.ParseBrokerKey(kc.BrokerHMACKey)
	if err != nil {
		b.log.Error("strict-broker key delivery disabled", "error", err.Error())
		key = nil
	}
	if kc.BrokerRateLimit > 0 {
		deps.Limit = license.NewLimiter(license.RateLimits{PerIP: kc.BrokerRateLimit, PerIPBurst: kc.BrokerRateBurst}, nil)
	}
	h := delivery.NewHandler(delivery.Config{Key: key, MaxTTL: kc.BrokerURLTTL}, deps)
	fetch := http.HandlerFunc(h.Fetch)
	b.mount(Route{"POST /v1/admin/broker-urls", http.HandlerFunc(h.Issue)}, Route{"GET " + delivery.BrokerPath, fetch}, Route{"POST " + delivery.BrokerPath, fetch})
	return nil
}

// redisLogger routes go-redis's own messages (connection errors) into the
// structured log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
