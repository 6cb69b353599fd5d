package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	yaml "go.yaml.in/yaml/v3"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/cli"
	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/observability"
	"github.com/drmpipe/drmpipe/internal/server"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// Token identity of the test deployments (demo mode off).
const (
	issuer       = "https://operator.example"
	audience     = "drmpipe-e2e"
	altAudience  = "drmpipe-e2e-second"
	playerOrigin = "https://player.example"
)

// setup describes one deployment: a data directory and a configuration
// file shared by every replica and CLI run of a test.
type setup struct {
	// DataDir, when set, is used instead of a fresh temp dir.
	DataDir string
	// Redis is redis.addr ("" = no Redis).
	Redis string
	// StoreDSN is store.dsn ("" = SQLite under the data dir).
	StoreDSN string
	// Upstreams is license.upstreams.
	Upstreams map[string]any
	// Edit changes the configuration map before it is written.
	Edit func(m map[string]any)
}

// deployment is a configuration plus everything that must stay secret in it.
type deployment struct {
	dir     string
	cfgFile string
	// opKey signs operator tokens; its public half is tokens.jwks_file.
	opKey   *ecdsa.PrivateKey
	opKID   string
	secrets *secretSet
}

// newDeployment writes the configuration of s and registers the end-of-test
// scan of every log and database file for secrets.
func newDeployment(t *testing.T, s setup) *deployment {
	t.Helper()
	dir := s.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	d := &deployment{dir: dir, secrets: newSecretSet()}
	var jwksFile string
	d.opKey, d.opKID, jwksFile = testtools.OperatorKey(t, t.TempDir())
	m := map[string]any{
		"server": map[string]any{"listen": "127.0.0.1:0", "data_dir": dir, "shutdown_grace": "10s"},
		"tokens": map[string]any{"issuer": issuer, "audiences": []string{audience, altAudience}, "jwks_file": jwksFile},
		"license": map[string]any{
			"cors_origins": []string{playerOrigin},
			"upstreams":    s.Upstreams,
		},
		"observability": map[string]any{"log": map[string]any{"level": "debug"}},
	}
	if s.Redis != "" {
		m["redis"] = map[string]any{"addr": s.Redis}
	}
	if s.StoreDSN != "" {
		m["store"] = map[string]any{"dsn": s.StoreDSN}
	}
	if s.Edit != nil {
		s.Edit(m)
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d.cfgFile = filepath.Join(t.TempDir(), "drmpipe.yaml")
	if err := os.WriteFile(d.cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: this one runs after every replica
	// started later has stopped and listed its keys.
	t.Cleanup(func() { d.secrets.scanAll(t, d.dir) })
	return d
}

// config loads the deployment's configuration like `drmpipe serve` (file,
// no environment) and validates it.
func (d *deployment) config(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(d.cfgFile, []string{}, nil)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config.Validate: %v", err)
	}
	return cfg
}

// operatorToken signs a playback token with the operator key of the JWKS
// file, as an operator backend would.
func (d *deployment) operatorToken(t *testing.T, aud, sub, contentID string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": issuer, "aud": aud, "sub": sub, "cid": contentID,
		"iat": now.Unix(), "exp": now.Add(20 * time.Second).Unix(), "jti": randomID(),
	})
	tok.Header["kid"] = d.opKID
	s, err := tok.SignedString(d.opKey)
	if err != nil {
		t.Fatal(err)
	}
	d.secrets.addString("operator token", s)
	return s
}

// cli runs a drmpipe command in-process; its output is scanned for secrets
// at the end of the test (stdout too, except for token and apikey, whose
// job is to print one).
func (d *deployment) cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = cli.Main(ctx, args, &out, &errb)
	d.secrets.addLog("drmpipe "+args[0]+" stderr", errb.Bytes)
	if args[0] != "token" && args[0] != "apikey" { // those print a secret on purpose
		d.secrets.addLog("drmpipe "+args[0]+" stdout", out.Bytes)
	}
	return out.String(), errb.String(), code
}

// replica is one running `drmpipe serve`.
type replica struct {
	*server.App
	d     *deployment
	url   string
	logs  *testtools.SyncBuffer
	spans *tracetest.InMemoryExporter
	tp    *sdktrace.TracerProvider
	// cancel stops Run; done receives its result.
	cancel context.CancelFunc
	done   chan error
	stop   func() error
	// close closes the App (once), after stop.
	close func() error
}

// start assembles the server from the deployment's configuration and runs
// it on a free loopback port until the test ends.
func (d *deployment) start(t *testing.T) *replica {
	t.Helper()
	cfg := d.config(t)
	r := &replica{d: d, logs: &testtools.SyncBuffer{}, spans: tracetest.NewInMemoryExporter()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(r.spans))
	log := observability.NewLogger(cfg.Observability.Log, r.logs)
	d.secrets.addLog("server log", r.logs.Bytes)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	app, err := server.NewApp(ctx, cfg, server.AppOptions{Logger: log, TracerProvider: r.tp, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatalf("server.NewApp: %v", err)
	}
	r.App = app
	runCtx, stopRun := context.WithCancel(context.Background())
	r.cancel = stopRun
	r.done = make(chan error, 1)
	ready := make(chan net.Addr, 1)
	go func() { r.done <- app.Server.Run(runCtx, func(a net.Addr) { ready <- a }) }()
	select {
	case a := <-ready:
		r.url = "http://" + a.String()
	case err := <-r.done:
		t.Fatalf("Server.Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start listening within 10s")
	}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			stopRun()
			select {
			case stopErr = <-r.done:
			case <-time.After(15 * time.Second):
				stopErr = context.DeadlineExceeded
			}
		})
		return stopErr
	}
	var closeOnce sync.Once
	var closeErr error
	r.close = func() error {
		closeOnce.Do(func() { closeErr = app.Close() })
		return closeErr
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("Server.Run ended with %v", err)
		}
		// Every key the store holds for the contents the test used must
		// be absent from logs and the database file.
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer lcancel()
		for _, cid := range d.secrets.contentIDs() {
			if list, err := app.Keys.List(lctx, cid); err == nil {
				for _, k := range list {
					d.secrets.addKey(k.Key.Key)
				}
			}
		}
		if err := r.close(); err != nil {
			t.Errorf("App.Close: %v", err)
		}
		_ = r.tp.Shutdown(context.Background())
	})
	return r
}

// apiKey creates an API key through the store API (like `drmpipe apikey
// create`) and registers it as a secret.
func (r *replica) apiKey(t *testing.T, scope apikey.Scope) string {
	t.Helper()
	tok, _, err := r.APIKeys.Create(context.Background(), "e2e-"+scope.String(), []apikey.Scope{scope})
	if err != nil {
		t.Fatalf("create API key: %v", err)
	}
	r.d.secrets.addString("API key", tok)
	return tok
}

// token mints a playback token with drmpipe's own signer (what POST
// /v1/tokens and `drmpipe token` use).
func (r *replica) token(t *testing.T, c entitlement.Claims) string {
	t.Helper()
	s, err := r.Signer.Sign(c)
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	r.d.secrets.addString("playback token", s)
	return s
}

// key gets or creates a content key in the store and registers it.
func (r *replica) key(t *testing.T, contentID string, tt keys.TrackType) keys.ContentKey {
	t.Helper()
	k, err := r.Keys.GetOrCreate(context.Background(), contentID, tt, 0)
	if err != nil {
		t.Fatalf("GetOrCreate(%s, %s): %v", contentID, tt, err)
	}
	r.d.secrets.addContentID(contentID)
	r.d.secrets.addKey(k.Key)
	return k
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorBody is the one error schema of every endpoint.
type errorBody struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter int    `json:"retryAfter"`
}

// errBody decodes the error schema, failing the test when the body is not
// exactly that schema.
func (r response) errBody(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("status %d: body is not the error schema {code,message,retryAfter}: %q (%v)", r.status, r.body, err)
	}
	return e
}

var httpClient = &http.Client{Timeout: 15 * time.Second}

// do sends one request; headers alternate name, value.
func do(t *testing.T, method, url string, body []byte, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// clearKeyRequest is a W3C EME ClearKey license request body (EME §9.1.3):
// KIDs in unpadded base64url.
func clearKeyRequest(kids ...drm.KeyID) []byte {
	req := struct {
		KIDs []string `json:"kids"`
		Type string   `json:"type"`
	}{Type: "temporary"}
	for _, k := range kids {
		req.KIDs = append(req.KIDs, base64.RawURLEncoding.EncodeToString(k[:]))
	}
	b, _ := json.Marshal(req)
	return b
}

// clearKeyLicense posts a ClearKey request with a bearer token from the
// allowed player origin.
func (r *replica) clearKeyLicense(t *testing.T, token string, kids ...drm.KeyID) response {
	t.Helper()
	return do(t, http.MethodPost, r.url+"/license/clearkey", clearKeyRequest(kids...),
		"Authorization", "Bearer "+token, "Content-Type", "application/json", "Origin", playerOrigin)
}

// jwkSet is the ClearKey license (EME §9.1.4), decoded independently of
// internal/drm/clearkey.
type jwkSet struct {
	Keys []struct {
		Kty string `json:"kty"`
		K   string `json:"k"`
		KID string `json:"kid"`
	} `json:"keys"`
	Type string `json:"type"`
}

// licenseKeys decodes a ClearKey license into KID -> key, checking the JWK
// form (kty oct, unpadded base64url).
func licenseKeys(t *testing.T, body []byte) map[drm.KeyID][]byte {
	t.Helper()
	var set jwkSet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("ClearKey license is not JSON: %v", err)
	}
	out := map[drm.KeyID][]byte{}
	for _, k := range set.Keys {
		if k.Kty != "oct" {
			t.Errorf("JWK kty %q, want oct", k.Kty)
		}
		kid, err := base64.RawURLEncoding.Strict().DecodeString(k.KID)
		if err != nil || len(kid) != 16 {
			t.Fatalf("JWK kid is not 16 bytes of unpadded base64url")
		}
		key, err := base64.RawURLEncoding.Strict().DecodeString(k.K)
		if err != nil || len(key) != 16 {
			t.Fatalf("JWK k is not 16 bytes of unpadded base64url")
		}
		out[drm.KeyID(kid)] = key
	}
	return out
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// eventually polls cond every interval until it holds or d passes.
func eventually(d, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
