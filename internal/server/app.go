package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/entitlement/redisstate"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/kms"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
	"github.com/drmpipe/drmpipe/internal/license"
	"github.com/drmpipe/drmpipe/internal/license/clearkey"
	"github.com/drmpipe/drmpipe/internal/license/fairplay"
	"github.com/drmpipe/drmpipe/internal/license/playready"
	"github.com/drmpipe/drmpipe/internal/license/upstream"
	"github.com/drmpipe/drmpipe/internal/license/widevine"
	"github.com/drmpipe/drmpipe/internal/live"
	"github.com/drmpipe/drmpipe/internal/netlimit"
	"github.com/drmpipe/drmpipe/internal/observability"
	"github.com/drmpipe/drmpipe/internal/redisbreaker"
	"github.com/drmpipe/drmpipe/internal/revocation"
	"github.com/drmpipe/drmpipe/internal/speke"
)

// Default token identity of drmpipe's own tokens when none is configured
// (demo mode).
const (
	defaultIssuer   = "drmpipe"
	defaultAudience = "drmpipe-license"
)

// TokenIdentity is the iss and aud of drmpipe's own playback tokens:
// tokens.issuer and the first of tokens.audiences, or the demo defaults.
func TokenIdentity(t config.TokensConfig) (issuer, audience string) {
	issuer, audience = t.Issuer, defaultAudience
	if issuer == "" {
		issuer = defaultIssuer
	}
	if len(t.Audiences) > 0 {
		audience = t.Audiences[0]
	}
	return issuer, audience
}

// NewSigner opens drmpipe's own token signing key (tokens.signing_key_file,
// created on first use) for tokens living ttl.
func NewSigner(t config.TokensConfig, ttl time.Duration) (*entitlement.Signer, error) {
	issuer, audience := TokenIdentity(t)
	return entitlement.NewSigner(entitlement.SignerConfig{File: t.SigningKeyFile, Issuer: issuer, Audience: audience, TTL: ttl})
}

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
}

// App is a fully assembled `drmpipe serve`.
type App struct {
	Server   *Server
	Keys     *KeyStore
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
//	GET  /content/...                                          packaged outputs (origin)
//	GET  /metrics, /healthz, /readyz
//	POST /demo/token, GET /web/...                             demo mode only
func NewApp(ctx context.Context, cfg *config.Config, opts AppOptions) (app *App, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	app = &App{}
	// The App is passed in: an error return sets the named result to nil
	// before deferred calls run.
	defer func(a *App) {
		if err != nil {
			_ = a.Close()
		}
	}(app)

	tp := opts.TracerProvider
	if tp == nil {
		var shutdown func(context.Context) error
		tp, shutdown, err = observability.NewTracerProvider(ctx, cfg.Observability.Tracing)
		if err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
		app.closers = append(app.closers, func() error {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return shutdown(sctx)
		})
	}
	app.Registry = opts.Registry
	if app.Registry == nil {
		app.Registry = prometheus.NewRegistry()
	}
	metrics := observability.NewMetrics(app.Registry)

	ks, err := openKeyStore(ctx, cfg, func(w kms.Wrapper) kms.Wrapper {
		return tracedKMS{Wrapper: w, tracer: tp.Tracer("drmpipe/kms"), metrics: metrics}
	})
	if err != nil {
		return nil, err
	}
	app.Keys = ks
	app.closers = append(app.closers, ks.Close)
	// store.audit.retention: old access and refusal rows go; revocations
	// and admin actions stay.
	if r := cfg.Store.Audit.Retention; r > 0 {
		pruner := sqlstore.NewAuditPruner(ks.Store, r, cfg.Store.Audit.PruneInterval, log)
		pruner.Start()
		app.closers = append(app.closers, pruner.Close)
	}
	app.APIKeys = ks.APIKeys()
	auth := apikey.NewHTTPAuthenticator(app.APIKeys)

	var rdb *redis.Client
	var redisGuard redis.Hook
	if cfg.Redis.Addr != "" {
		redis.SetLogger(redisLogger{log})
		// Short timeouts and few retries: a Redis outage must cost
		// milliseconds per request, not seconds. A hung Redis (connections
		// open, no answers) must cost nothing at all once noticed: every
		// command goes through one circuit breaker (redis.timeout each),
		// shared with the license cache's client.
		breaker := redisbreaker.New(redisbreaker.Config{Timeout: cfg.Redis.Timeout, Failures: uint(cfg.Redis.BreakerFailures), OpenFor: cfg.Redis.BreakerOpenFor,
			OnStateChange: func(state string) {
				metrics.SetRedisBreakerState(state)
				log.Warn("redis circuit breaker", "state", state)
			}})
		metrics.SetRedisBreakerState(breaker.State())
		redisGuard = breaker.Hook()
		rdb = redis.NewClient(&redis.Options{
			Addr: cfg.Redis.Addr, Username: cfg.Redis.Username, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
			DialTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond,
			MaxRetries: 1, DialerRetries: 1, ContextTimeoutEnabled: true,
		})
		rdb.AddHook(redisGuard)
		app.closers = append(app.closers, rdb.Close)
	}

	// Entitlement: drmpipe's own signing key is always trusted; an operator
	// JWKS (file or URL) is trusted as well when configured.
	issuer, audience := TokenIdentity(cfg.Tokens)
	signer, err := NewSigner(cfg.Tokens, cfg.Tokens.MaxLifetime)
	if err != nil {
		return nil, fmt.Errorf("token signer: %w", err)
	}
	app.Signer = signer
	var keySources multiKeySource = []entitlement.KeySource{signer}
	if cfg.Tokens.JWKSFile != "" || cfg.Tokens.JWKSURL != "" {
		jwks, err := entitlement.NewJWKSKeys(ctx, entitlement.JWKSConfig{File: cfg.Tokens.JWKSFile, URL: cfg.Tokens.JWKSURL, RefreshInterval: cfg.Tokens.JWKSRefresh})
		if err != nil {
			return nil, fmt.Errorf("tokens JWKS: %w", err)
		}
		keySources = append(keySources, jwks)
	}
	// tokens.audiences lists every accepted aud: one verifier per audience.
	audiences := cfg.Tokens.Audiences
	if len(audiences) == 0 {
		audiences = []string{audience}
	}
	var verifier audienceVerifiers
	for _, aud := range audiences {
		v, err := entitlement.NewVerifier(entitlement.VerifierConfig{
			Issuer: issuer, Audience: aud, Algorithms: cfg.Tokens.Algorithms,
			ClockSkew: cfg.Tokens.ClockSkew, MaxLifetime: cfg.Tokens.MaxLifetime,
		}, keySources, nil)
		if err != nil {
			return nil, fmt.Errorf("token verifier: %w", err)
		}
		verifier = append(verifier, v)
	}
	var (
		revocations entitlement.Revocations   = entitlement.NewMemoryRevocations(nil)
		devices     entitlement.DeviceTracker = entitlement.NewMemoryDevices()
		localReplay                           = entitlement.NewMemoryReplay()
		replay      entitlement.ReplayGuard   = localReplay
	)
	var redisBack <-chan struct{}
	if rdb != nil {
		rr := redisstate.NewRevocations(ctx, rdb, redisstate.RevocationsOptions{})
		app.closers = append(app.closers, rr.Close)
		revocations, redisBack = rr, rr.Reconnected()
		shared := entitlement.NewSharedState(log)
		devices = shared.Devices(redisstate.NewDevices(rdb, ""), devices)
		replay = shared.Replay(redisstate.NewReplay(rdb, ""), localReplay, ks)
	}
	// Policy (policy.*): rules per content, the operator's subscription
	// callback (without one, every user counts as subscribed; config
	// validation refuses require_subscription then) and the GeoIP database.
	policy, err := cfg.Policy.Entitlement()
	if err == nil {
		err = policy.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	var subscriptions entitlement.SubscriptionChecker = entitlement.StaticSubscriptions{AllowAll: true}
	if cfg.Policy.Subscription.CallbackURL != "" {
		subTransport := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 5 * time.Second}
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			subTransport = dt.Clone()
		}
		app.closers = append(app.closers, func() error { subTransport.CloseIdleConnections(); return nil })
		cb, err := entitlement.NewCallbackSubscriptions(cfg.Policy.Subscription.Callback(&http.Client{Transport: observability.HTTPTransport(subTransport, tp)}))
		if err != nil {
			return nil, fmt.Errorf("policy.subscription: %w", err)
		}
		subscriptions = cb
	}
	var countries entitlement.CountryResolver
	if cfg.Policy.GeoIPFile != "" {
		geo, err := entitlement.OpenGeoIP(cfg.Policy.GeoIPFile)
		if err != nil {
			return nil, fmt.Errorf("policy.geoip_file: %w", err)
		}
		app.closers = append(app.closers, geo.Close)
		countries = geo
	}
	ent := entitlement.New(entitlement.Config{Policy: policy},
		entitlement.Deps{Verifier: verifier, Revocations: revocations, Subscriptions: subscriptions, Countries: countries, Devices: devices, Replay: replay,
			ContentKeys: contentKeyList{ks: ks, tracer: tp.Tracer("drmpipe/keys"), metrics: metrics, cache: newTTLCache[string, []entitlement.ContentKeyRef]()}})
	authorizer := tracedAuthorizer{next: ent, tracer: tp.Tracer("drmpipe/entitlement"), metrics: metrics}

	// License endpoints.
	trusted, err := parsePrefixes(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, err
	}
	// license.cache_ttl 0 turns the cache off (duplicates are still merged
	// while in flight); otherwise it caps each entry with the token expiry.
	var cache license.Cache
	if cfg.License.CacheTTL > 0 {
		cache = license.NewMemoryCache(license.DefaultMemoryCacheEntries, nil)
	}
	if rdb != nil && cfg.License.CacheTTL > 0 {
		rc := license.NewRedisCache(license.RedisCacheConfig{Addr: cfg.Redis.Addr, Username: cfg.Redis.Username, Password: cfg.Redis.Password, DB: cfg.Redis.DB}, log, redisGuard)
		app.closers = append(app.closers, rc.Close)
		cache = rc
	}
	rl := cfg.License.RateLimit
	ldeps := license.Deps{
		Authorizer: authorizer,
		Cache:      cache,
		Limiter:    license.NewLimiter(license.RateLimitConfig{PerIP: license.Rate{PerSecond: rl.PerIP, Burst: rl.PerIPBurst}, PerUser: license.Rate{PerSecond: rl.PerUser, Burst: rl.PerUserBurst}}, nil),
		Log:        log,
		ClientIP:   func(r *http.Request) netip.Addr { return entitlement.ClientIP(r, trusted) },
	}
	epCfg := license.EndpointConfig{TokenHeader: cfg.Tokens.Header, CacheTTL: cfg.License.CacheTTL}
	cors, err := license.CORS(license.CORSConfig{AllowedOrigins: cfg.License.CORSOrigins}, cfg.Tokens.Header)
	if err != nil {
		return nil, err
	}
	ck, err := clearkey.NewHandler(clearkey.Config{EndpointConfig: epCfg}, clearkey.Deps{Deps: ldeps, Scope: ent,
		Keys: keyLookup{ks: ks, tracer: tp.Tracer("drmpipe/keys"), metrics: metrics, cache: newTTLCache[drm.KeyID, keys.StoredKey]()}})
	if err != nil {
		return nil, err
	}
	licenseRoute := func(name, vendor string, h http.Handler) http.Handler {
		return observability.HTTPHandler(metered(cors(h), metrics, name, vendor), observability.SpanLicenseRequest, tp)
	}
	routes := []Route{
		{"POST /license/clearkey", licenseRoute("clearkey", "drmpipe", ck)},
		{"OPTIONS /license/", cors(http.NotFoundHandler())},
	}
	for name, up := range cfg.License.Upstreams {
		upHTTP := &http.Client{Transport: vendorTransport{next: observability.HTTPTransport(http.DefaultTransport, tp), drm: name, vendor: up.Type.String(), tracer: tp.Tracer("drmpipe/license"), metrics: metrics}}
		udeps := upstream.Deps{HTTPClient: upHTTP, Log: log, KIDs: contentKIDs{ks}}
		var h http.Handler
		switch name {
		case "widevine":
			h, err = widevine.NewHandler(widevine.Config{EndpointConfig: epCfg, Upstream: up}, widevine.Deps{Deps: ldeps, Upstream: udeps})
		case "playready":
			h, err = playready.NewHandler(playready.Config{EndpointConfig: epCfg, Upstream: up}, playready.Deps{Deps: ldeps, Upstream: udeps})
		case "fairplay":
			h, err = fairplay.NewHandler(fairplay.Config{GatewayConfig: upstream.GatewayConfig{EndpointConfig: epCfg, Upstream: up}}, fairplay.Deps{Deps: ldeps, Upstream: udeps})
			if err == nil {
				routes = append(routes, Route{"GET /license/fairplay/certificate", cors(h)})
			}
		default:
			err = fmt.Errorf("license.upstreams: %q is not widevine, playready or fairplay", name)
		}
		if err != nil {
			return nil, fmt.Errorf("license upstream %s: %w", name, err)
		}
		if u, ok := h.(interface{ Upstream() *upstream.Client }); ok {
			h = breakerGauge(h, metrics, name, u.Upstream())
		}
		routes = append(routes, Route{"POST /license/" + name, licenseRoute(name, up.Type.String(), h)})
	}

	// Revocations (admin API): recorded in the store's audit log, applied
	// to the live list; each one applied here purges the license cache and
	// calls the CDN purge webhooks. The audit log is the durable record:
	// restored now, re-read every policy.revocations.resync_interval and
	// when Redis is back.
	revSvc, err := revocation.New(revocation.Config{PurgeWebhooks: cfg.License.PurgeWebhooks, CloseGrace: cfg.Server.ShutdownGrace},
		revocation.Deps{Keys: ks, Audit: ks, Live: revocations, Cache: cache, Metrics: metrics, Logger: log})
	if err != nil {
		return nil, err
	}
	app.closers = append(app.closers, revSvc.Close)
	revocationSync, err := entitlement.NewRevocationSync(cfg.Policy.Revocations,
		entitlement.RevocationSyncDeps{Log: revSvc, Revocations: revocations, Wake: redisBack, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := revocationSync.Restore(ctx); err != nil {
		return nil, err
	}
	revocationSync.Start()
	app.closers = append(app.closers, revocationSync.Close)

	// SPEKE key provider: API keys, or client certificates (mTLS).
	var spekeAuth Authenticator = auth
	if len(cfg.SPEKE.MTLSClients) > 0 {
		allowed := map[string]bool{}
		for _, n := range cfg.SPEKE.MTLSClients {
			allowed[n] = true
		}
		spekeAuth = mtlsAuthenticator{scope: "speke", allowed: allowed, next: auth}
	}
	spekeHandler := speke.NewHandler(speke.Config{
		PlayReadyLAURL: cfg.SPEKE.PlayReadyLAURL, ClearKeyLAURL: cfg.SPEKE.ClearKeyLAURL,
		FairPlayKeyURI: cfg.SPEKE.FairPlayKeyURIPrefix, WidevineProvider: cfg.SPEKE.WidevineProvider,
	}, speke.Deps{Keys: ks, Auth: spekeAuth, Logger: log})
	spekeTraced := observability.HTTPHandler(spekeHandler, observability.SpanSPEKERequest, tp)
	routes = append(routes, Route{"POST " + speke.PathV1, spekeTraced}, Route{"POST " + speke.PathV2, spekeTraced})

	// Tokens and admin.
	th := &tokenHandlers{signer: signer, auth: auth, maxTTL: cfg.Tokens.MaxLifetime, log: log}
	routes = append(routes, Route{"POST /v1/tokens", http.HandlerFunc(th.mint)}, Route{"GET /.well-known/jwks.json", http.HandlerFunc(th.jwks)})
	ah := &adminHandlers{keys: ks, revocations: revSvc, auth: auth, allowReveal: cfg.Keys.AllowReveal, log: log}
	routes = append(routes, ah.routes()...)
	// Refused broker requests are counted in memory and written one row per
	// (client, reason, content) a minute; the last counts on Close.
	refusals := apikey.NewAggregator(apikey.AggregatorConfig{}, ks.Audit)
	refusals.Start(func(err error) { log.Warn("audit log write of refused broker requests failed", "error", err.Error()) })
	app.refusals = refusals
	app.closers = append(app.closers, refusals.Close)
	routes = append(routes, brokerRoutes(cfg.Keys, ks, brokerDeps{Auth: auth, ClientIP: ldeps.ClientIP, Refused: refusals, Log: log})...)
	// Live channels: CMAF ingest and the published output.
	lp, err := live.New(live.Config{Dir: filepath.Join(cfg.Server.DataDir, "live"), WidevineProvider: cfg.SPEKE.WidevineProvider,
		PlayReadyLAURL: cfg.SPEKE.PlayReadyLAURL, ClearKeyLAURL: cfg.SPEKE.ClearKeyLAURL, FairPlayKeyURI: cfg.SPEKE.FairPlayKeyURIPrefix},
		live.Deps{Channels: live.NewChannels(ks.Store), Keys: ks, Auth: auth, Log: log})
	if err != nil {
		return nil, err
	}
	app.closers = append(app.closers, lp.Close)
	ingest, output := lp.IngestHandler(), lp.OutputHandler()
	routes = append(routes, Route{"PUT " + live.IngestPrefix, ingest}, Route{"POST " + live.IngestPrefix, ingest}, Route{"DELETE " + live.IngestPrefix, ingest},
		Route{"GET " + live.OutputPrefix, output}, Route{"HEAD " + live.OutputPrefix, output})
	if cfg.Observability.Metrics.Enabled {
		routes = append(routes, Route{"GET " + cfg.Observability.Metrics.Path, observability.Handler(app.Registry)})
	}
	if cfg.Server.Demo {
		routes = append(routes, Route{"POST /demo/token", http.HandlerFunc(th.demo)})
		if opts.WebDir != "" {
			routes = append(routes, demoRoutes(opts.WebDir)...)
		}
	}

	checks := []Check{
		{Name: "store", Check: ks.Ping},
		{Name: "kms", Check: func(ctx context.Context) error { return kmsCheck(ctx, ks) }},
		{Name: "revocations", Check: func(context.Context) error { return revocations.Ready() }},
	}
	if rdb != nil {
		checks = append(checks, Check{Name: "redis", Check: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }})
	}
	srv, err := New(Config{
		Listen: cfg.Server.Listen, TLSCertFile: cfg.Server.TLS.CertFile, TLSKeyFile: cfg.Server.TLS.KeyFile, TLSClientCAFile: cfg.Server.TLS.ClientCAFile,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout, ReadTimeout: cfg.Server.ReadTimeout,
		WriteTimeout: cfg.Server.WriteTimeout, IdleTimeout: cfg.Server.IdleTimeout,
		MaxBodyBytes: cfg.Server.MaxBodyBytes, ShutdownGrace: cfg.Server.ShutdownGrace,
		ContentDir:  filepath.Join(cfg.Server.DataDir, "content"),
		Connections: netlimit.Config{MaxConns: cfg.Server.MaxConnections, MaxConnsPerIP: cfg.Server.MaxConnectionsPerIP, Exempt: trusted},
	}, Deps{Logger: log, Routes: routes, Checks: checks, Connections: metrics, OriginWrap: func(h http.Handler) http.Handler {
		return observability.HTTPHandler(h, observability.SpanCDNFetchSegment, tp)
	}})
	if err != nil {
		return nil, err
	}
	app.Server = srv
	app.patterns = []string{"GET /healthz", "GET /readyz", "GET /content/", "HEAD /content/"}
	for _, rt := range routes {
		app.patterns = append(app.patterns, rt.Pattern)
	}
	return app, nil
}

// multiKeySource trusts every key of several sources.
type multiKeySource []entitlement.KeySource

func (m multiKeySource) Key(ctx context.Context, kid string) (entitlement.PublicKey, error) {
	var firstErr error
	for _, s := range m {
		k, err := s.Key(ctx, kid)
		if err == nil {
			return k, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return entitlement.PublicKey{}, firstErr
}

// contentKIDs lists a content's active keys for vendor adapters that must
// name keys (Axinom).
type contentKIDs struct{ ks *KeyStore }

func (c contentKIDs) ContentKIDs(ctx context.Context, contentID string) ([]upstream.ContentKID, error) {
	list, err := c.ks.List(ctx, contentID)
	if err != nil {
		return nil, err
	}
	var out []upstream.ContentKID
	for _, k := range list {
		if k.State == keys.StateActive {
			out = append(out, upstream.ContentKID{KID: k.KID, TrackType: k.TrackType})
		}
	}
	return out, nil
}

// kmsCheck proves the KMS answers by wrapping and unwrapping a throw-away key.
func kmsCheck(ctx context.Context, ks *KeyStore) error {
	var kid drm.KeyID
	probe := make([]byte, 16)
	w, ref, err := ks.KMS.Wrap(ctx, kid, "drmpipe-readiness", probe)
	if err != nil {
		return err
	}
	_, err = ks.KMS.Unwrap(ctx, kid, "drmpipe-readiness", w, ref)
	return err
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("server.trusted_proxies: %q: %w", s, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("server.trusted_proxies: %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// redisLogger routes go-redis's own messages (connection errors) into the
// structured log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
