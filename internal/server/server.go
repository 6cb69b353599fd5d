// Package server is the composition root of `drmpipe serve`: NewApp builds
// each component from its configuration with one small builder (key store,
// Redis, entitlement, licenses, vendor gateway, revocations, SPEKE, tokens
// and admin, broker, operations), mounts the domain handlers, wraps them in
// the common middleware (request IDs, panic recovery, body limits, access
// logs, license metering), and runs the http.Server with timeouts,
// connection limits, TLS, health and readiness, and graceful shutdown. No
// domain rule, cache or fallback lives here.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/live"
	"github.com/drmpipe/drmpipe/internal/netlimit"
	"github.com/drmpipe/drmpipe/internal/observability"
	"github.com/drmpipe/drmpipe/internal/origin"
	"github.com/drmpipe/drmpipe/internal/server/httpconf"
)

// Config is the HTTP side of the server.
type Config struct {
	Listen      string
	TLSCertFile string
	TLSKeyFile  string
	// TLSClientCAFile enables verification of client certificates (mTLS).
	TLSClientCAFile   string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxBodyBytes bounds every request body (handlers may set lower limits).
	MaxBodyBytes int64
	// ShutdownGrace is how long in-flight requests get after SIGTERM.
	ShutdownGrace time.Duration
	// ContentDir is served as an origin under /content/.
	ContentDir string
	// Connections caps the open client connections, globally and per
	// client address (Reply503 is set by Run for plain HTTP).
	Connections netlimit.Config
}

// Defaults fills unset fields with package httpconf's defaults, the same
// as the configuration file's.
func (c *Config) Defaults() {
	d := httpconf.Default()
	c.Listen = cmp.Or(c.Listen, d.Listen)
	c.ReadHeaderTimeout = cmp.Or(c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, d.ReadTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, d.WriteTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, d.IdleTimeout)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, d.MaxBodyBytes)
	c.ShutdownGrace = cmp.Or(c.ShutdownGrace, d.ShutdownGrace)
}

// Route mounts a handler on a net/http ServeMux pattern ("POST /license/clearkey").
type Route struct {
	Pattern string
	Handler http.Handler
}

// Check is one readiness dependency (store, KMS, Redis).
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Deps are the parts the server composes.
type Deps struct {
	Logger *slog.Logger
	Routes []Route
	Checks []Check
	// Wrap, when set, wraps the whole handler.
	Wrap func(http.Handler) http.Handler
	// OriginWrap, when set, wraps the origin (/content/) handler (tracing).
	OriginWrap func(http.Handler) http.Handler
	// Connections, when set, counts connections refused or shed by the
	// connection limits (metrics).
	Connections netlimit.Observer
}

// Server is a configured drmpipe HTTP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	checks  []Check
	connObs netlimit.Observer

	mu       sync.Mutex
	draining bool
}

// New builds the server and its routes.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.Defaults()
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: deps.Logger, checks: deps.Checks, connObs: deps.Connections}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", s.ready)
	if cfg.ContentDir != "" {
		var content http.Handler = origin.New(cfg.ContentDir, "/content/")
		if deps.OriginWrap != nil {
			content = deps.OriginWrap(content)
		}
		mux.Handle("GET /content/", content)
		mux.Handle("HEAD /content/", content)
	}
	for _, rt := range deps.Routes {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, r, nil, httperr.New(http.StatusNotFound, httperr.CodeNotFound, "no such endpoint"))
	})
	var h http.Handler = mux
	h = s.limitBody(h)
	h = s.recoverPanics(h)
	h = s.accessLog(h)
	if deps.Wrap != nil {
		h = deps.Wrap(h)
	}
	s.handler = observability.RequestIDMiddleware(h)
	return s, nil
}

// Handler is the server's whole handler (for in-process tests).
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens and serves until ctx is cancelled, then shuts down gracefully:
// readiness turns false, the listener closes, and in-flight requests get
// ShutdownGrace to finish. ready, if not nil, is called once listening.
func (s *Server) Run(ctx context.Context, ready func(addr net.Addr)) error {
	raw, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	connCfg := s.cfg.Connections
	connCfg.Reply503 = s.cfg.TLSCertFile == ""
	ln, err := netlimit.NewListener(raw, connCfg, s.connObs)
	if err != nil {
		raw.Close()
		return fmt.Errorf("server.max_connections, server.max_connections_per_ip: %w", err)
	}
	var tlsCfg *tls.Config
	if s.cfg.TLSClientCAFile != "" {
		if tlsCfg, err = clientCATLS(s.cfg.TLSClientCAFile); err != nil {
			ln.Close()
			return err
		}
	}
	srv := &http.Server{
		TLSConfig:         tlsCfg,
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnState:         ln.ConnState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCertFile != "" {
			// HTTP/2 is negotiated by ALPN with TLS.
			errc <- srv.ServeTLS(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	limits := ln.Config()
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.cfg.TLSCertFile != "",
		"max_connections", limits.MaxConns, "max_connections_per_ip", limits.MaxConnsPerIP)
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	s.log.Info("shutting down", "grace", s.cfg.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ready answers 200 only when every dependency answers within 2 s.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	type result struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	results := make([]result, len(s.checks))
	var wg sync.WaitGroup
	for i, c := range s.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = result{Name: c.Name, OK: true}
			if err := c.Check(ctx); err != nil {
				results[i] = result{Name: c.Name, Error: err.Error()}
			}
		}()
	}
	wg.Wait()
	ok := !draining
	for _, res := range results {
		ok = ok && res.OK
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": ok, "draining": draining, "checks": results})
}

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, live.IngestPrefix) {
			next.ServeHTTP(w, r) // live ingest bounds each object and box itself
			return
		}
		if r.ContentLength > s.cfg.MaxBodyBytes {
			httperr.Write(w, r, s.log, httperr.New(http.StatusRequestEntityTooLarge, httperr.CodeTooLarge, fmt.Sprintf("request body larger than %d bytes", s.cfg.MaxBodyBytes)))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				httperr.Write(w, r, s.log, httperr.Wrap(fmt.Errorf("panic: %v", v), http.StatusInternalServerError, httperr.CodeInternal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// accessLog logs one line per request: method, path (never the query,
// which may carry tokens), status, bytes, duration; the logger adds the
// request ID from the context (observability.NewLogger).
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &observability.StatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.Status), slog.Int64("bytes", sw.Bytes),
			slog.Duration("duration", time.Since(start)))
	})
}
