//go:build bench

// Package bench holds the server benchmarks run by scripts/bench_server.sh
// (make bench-server): the load generator in loadgen/ and, here, an
// in-process benchmark of the assembled server's ClearKey path for CPU
// profiles:
//
//	go test -tags bench -run '^$' -bench ClearKeyApp -cpuprofile cpu.out ./test/bench
//
// It builds the same server.App as `drmpipe serve` (SQLite store, local KEK,
// drmpipe's own ES256 signer, in-memory license cache, metrics, access log
// to a discarded writer) and calls its handler directly, without sockets,
// so the profile shows the server's own costs.
package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/server"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

func newApp(b *testing.B, redisAddr string) (*server.App, *entitlement.Signer, []byte) {
	b.Helper()
	dir := b.TempDir()
	signer, err := entitlement.NewSigner(entitlement.SignerConfig{Dir: dir, Issuer: "bench", Audience: "bench-license", TTL: 20 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	jwks := filepath.Join(dir, "jwks.json")
	if err := writeFile(jwks, signer.JWKS()); err != nil {
		b.Fatal(err)
	}
	env := []string{
		"DRMPIPE_SERVER__DATA_DIR=" + dir,
		"DRMPIPE_SERVER__LISTEN=127.0.0.1:0",
		"DRMPIPE_TOKENS__ISSUER=bench",
		"DRMPIPE_TOKENS__AUDIENCES=bench-license",
		"DRMPIPE_TOKENS__JWKS_FILE=" + jwks,
		"DRMPIPE_TOKENS__MAX_LIFETIME=30m",
		"DRMPIPE_TOKENS__ALGORITHMS=ES256",
		"DRMPIPE_LICENSE__RATE_LIMIT__PER_IP=0",
		"DRMPIPE_LICENSE__RATE_LIMIT__PER_USER=0",
	}
	if redisAddr != "" {
		env = append(env, "DRMPIPE_REDIS__ADDR="+redisAddr)
	}
	cfg, err := config.Load("", env, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	app, err := server.NewApp(context.Background(), cfg, server.AppOptions{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Close() })
	var kids []string
	for _, tt := range []keys.TrackType{keys.HD, keys.Audio} {
		k, err := app.Keys.GetOrCreate(context.Background(), "bench-movie", tt, 0)
		if err != nil {
			b.Fatal(err)
		}
		kids = append(kids, base64.RawURLEncoding.EncodeToString(k.KID[:]))
	}
	body, _ := json.Marshal(map[string]any{"kids": kids, "type": "temporary"})
	return app, signer, body
}

// BenchmarkClearKeyApp issues licenses through the whole server handler:
//   - distinct: one request per token (a new ES256 verification each time);
//   - repeat: each token three times with the same body (the default
//     maximum uses): the first is computed, the next two are answered by the
//     license cache and, for the token itself, by the verified-token cache.
//
// The -redis variants use a real redis-server for token uses and the
// license cache (through the circuit breaker in front of Redis).
func BenchmarkClearKeyApp(b *testing.B) {
	for _, tc := range []struct {
		name  string
		uses  int
		redis bool
	}{{"distinct", 1, false}, {"repeat", 3, false}, {"distinct-redis", 1, true}, {"repeat-redis", 3, true}} {
		b.Run(tc.name, func(b *testing.B) {
			var addr string
			if tc.redis {
				addr = testtools.StartRedis(b).Addr
			}
			app, signer, body := newApp(b, addr)
			h := app.Server.Handler()
			toks := make([]string, 0, b.N/tc.uses+1)
			for i := range b.N/tc.uses + 1 {
				t, err := signer.Sign(entitlement.Claims{Subject: fmt.Sprintf("u%d", i%100), ContentID: "bench-movie"})
				if err != nil {
					b.Fatal(err)
				}
				toks = append(toks, t)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				r := httptest.NewRequest(http.MethodPost, "/license/clearkey", strings.NewReader(string(body)))
				r.RemoteAddr = "127.0.0.1:40000"
				r.Header.Set("Authorization", "Bearer "+toks[i/tc.uses])
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "licenses/s")
		})
	}
}
