// Command licensepath measures which internal packages run for one ClearKey
// license request (issue 12: "a ClearKey request crosses at most 8
// internal packages"). It assembles `drmpipe serve` in-process on a
// loopback port (SQLite key store and local KMS in a temp dir, one
// operator JWKS), mints a token with the server's own signer, clears the
// coverage counters, posts one W3C EME ClearKey license request
// (EME §9.1.3) and writes the counters of that request alone to DIR.
//
// It needs a binary built with coverage counters that can be cleared:
//
//	go build -cover -covermode=atomic -coverpkg=./internal/...,./test/licensepath -o licensepath ./test/licensepath
//
// scripts/license_path.sh builds it, runs it cold (the first request: key
// lookup cache empty, the KEK unwraps the key) and warm (a second request
// with the same token's claims cached), and lists the packages.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/coverage"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/server"
)

const origin = "https://player.example"

func main() {
	warm := flag.Bool("warm", false, "send one request first, and measure the second")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: licensepath [-warm] DIR")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *warm); err != nil {
		fmt.Fprintln(os.Stderr, "licensepath:", err)
		os.Exit(1)
	}
}

func run(out string, warm bool) error {
	dir, err := os.MkdirTemp("", "licensepath")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg, err := writeConfig(dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	app, err := server.NewApp(ctx, cfg, server.AppOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()})
	if err != nil {
		return err
	}
	defer app.Close()
	ready := make(chan net.Addr, 1)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Server.Run(runCtx, func(a net.Addr) { ready <- a }) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "licensepath: server:", err)
		}
	}()
	var url string
	select {
	case a := <-ready:
		url = "http://" + a.String() + "/license/clearkey"
	case err := <-done:
		return err
	}
	k, err := app.Keys.GetOrCreate(ctx, "licensepath", keys.SD, 0)
	if err != nil {
		return err
	}
	tok, err := app.Signer.Sign(entitlement.Claims{Subject: "viewer", ContentID: "licensepath"})
	if err != nil {
		return err
	}
	body := []byte(`{"kids":["` + base64.RawURLEncoding.EncodeToString(k.KID[:]) + `"],"type":"temporary"}`)
	if warm {
		if err := post(ctx, url, tok, body); err != nil {
			return err
		}
	}
	if err := coverage.ClearCounters(); err != nil {
		return err
	}
	if err := post(ctx, url, tok, body); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return errors.Join(coverage.WriteMetaDir(out), coverage.WriteCountersDir(out))
}

// writeConfig writes and loads a configuration like the e2e tests': a
// data directory, an operator JWKS, CORS for the player origin.
func writeConfig(dir string) (*config.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	jwks, err := entitlement.MarshalJWKS([]entitlement.PublicKey{{KID: entitlement.Thumbprint(&key.PublicKey), Alg: "ES256", Key: &key.PublicKey}})
	if err != nil {
		return nil, err
	}
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "drmpipe.yaml")
	yaml := fmt.Sprintf("server: {listen: \"127.0.0.1:0\", data_dir: %q}\ntokens: {issuer: \"https://operator.example\", audiences: [licensepath], jwks_file: %q}\nlicense: {cors_origins: [%q]}\n",
		dir, jwksFile, origin)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(file, []string{}, nil)
	if err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

// post sends the license request as the demo player does and requires a
// license.
func post(ctx context.Context, url, token string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"keys"`)) {
		return fmt.Errorf("license request answered %d", resp.StatusCode)
	}
	return nil
}
