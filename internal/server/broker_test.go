package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/cli"
	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/server"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// brokerKeyHex is the broker HMAC key of these tests (32 bytes).
const brokerKeyHex = "6d2b1f0e9a8c7d6e5f4a3b2c1d0e0f1a2b3c4d5e6f708192a3b4c5d6e7f80912"

var brokerKeyBytes, _ = hex.DecodeString(brokerKeyHex)

// testApp is `drmpipe serve` assembled by NewApp from a configuration file
// (config.Load, as the serve command does) and running on 127.0.0.1:0.
type testApp struct {
	*server.App
	url     string
	cfgFile string
}

func startApp(t *testing.T, yaml string) *testApp {
	t.Helper()
	return startAppWith(t, yaml, server.AppOptions{})
}

// startAppWith is startApp with opts (Now, Workers, TracerProvider); the
// logger, registry and web directory are the test's, and the tracer too
// unless opts has one.
func startAppWith(t *testing.T, yaml string, opts server.AppOptions) *testApp {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "drmpipe.yaml")
	body := "server:\n  data_dir: " + filepath.Join(dir, "data") + "\n  listen: 127.0.0.1:0\n  demo: true\n" + yaml
	if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile, []string{}, nil)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config.Validate: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts.Logger, opts.Registry, opts.WebDir = log, prometheus.NewRegistry(), dir
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	app, err := server.NewApp(ctx, cfg, opts)
	if err != nil {
		t.Fatalf("NewApp: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan net.Addr, 1)
	go func() { done <- app.Server.Run(runCtx, func(a net.Addr) { ready <- a }) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not listen within 10 s")
	}
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := app.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &testApp{App: app, url: "http://" + addr.String(), cfgFile: cfgFile}
}

const brokerYAML = "keys:\n  broker_hmac_key: " + brokerKeyHex + "\n  broker_url_ttl: 10m\n"

// worker is a packaging worker's RSA key pair and certificate, in files.
type worker struct {
	priv              *rsa.PrivateKey
	cert              *x509.Certificate
	keyFile, certFile string
}

func newWorker(t *testing.T) worker {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "worker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	dir := t.TempDir()
	w := worker{priv: priv, cert: cert, keyFile: filepath.Join(dir, "worker.key"), certFile: filepath.Join(dir, "worker.pem")}
	pk, _ := x509.MarshalPKCS8PrivateKey(priv)
	os.WriteFile(w.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600)
	os.WriteFile(w.certFile, w.pem(), 0o644)
	return w
}

func (w worker) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.cert.Raw})
}

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := cli.Main(ctx, args, &o, &e)
	return o.String(), e.String(), code
}

func auditCount(t *testing.T, a *testApp, action, target string) int {
	t.Helper()
	list, err := a.Keys.ListAudit(context.Background(), apikey.AuditQuery{Target: target, Limit: apikey.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range list {
		if e.Action == action {
			n++
		}
	}
	return n
}

// TestBrokerPackageEndToEnd is the strict-broker proof: the operator signs
// a URL with `drmpipe keys broker-url` (bound to the worker's certificate),
// the worker runs `drmpipe package --cpix URL --cpix-key KEY` with no store
// access, and every track of the output decrypts with ffmpeg, using the key
// the server's store holds for the track's KID, to the packets of the clear
// input. The fetch is audited, and the keys never crossed the wire in clear.
func TestBrokerPackageEndToEnd(t *testing.T) {
	a := startApp(t, brokerYAML)
	w := newWorker(t)
	signed, stderr, code := runCLI(t, "keys", "broker-url", "--config", a.cfgFile, "--content-id", "movie",
		"--keys-per", "track-type", "--cert", w.certFile, "--base-url", a.url, "--ttl", "2m")
	if code != 0 {
		t.Fatalf("keys broker-url: %s", stderr)
	}
	signed = strings.TrimSpace(signed)
	pu, err := url.Parse(signed)
	if err != nil || pu.Query().Get("recipient") != delivery.RecipientFingerprint(w.cert) {
		t.Fatalf("broker URL %q does not bind the worker's key", signed)
	}
	if exp, _ := strconv.ParseInt(pu.Query().Get("exp"), 10, 64); time.Until(time.Unix(exp, 0)) > 2*time.Minute+time.Second {
		t.Errorf("--ttl 2m gave exp %d", exp)
	}

	// The worker: its own empty data directory, no key store configured.
	clip := testtools.SampleClip(t)
	out := filepath.Join(t.TempDir(), "out")
	workerData := filepath.Join(t.TempDir(), "worker-data")
	stdout, stderr, code := runCLI(t, "package", "-q", "-o", out, "--data", workerData,
		"--cpix", signed, "--cpix-key", w.keyFile, clip)
	if code != 0 {
		t.Fatalf("package --cpix URL: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(workerData); err == nil {
		t.Error("the worker opened a key store")
	}

	ctx := context.Background()
	for _, tt := range testtools.MissingTrackTypeKeys(t, a.Keys, "movie") {
		t.Errorf("the broker did not get-or-create the %s key", tt)
	}
	clear := map[string][]string{"v:0": testtools.FrameMD5(t, clip, "v:0", ""), "a:0": testtools.FrameMD5(t, clip, "a:0", "")}
	entries, _ := os.ReadDir(out)
	tracks := 0
	for _, e := range entries {
		dir := filepath.Join(out, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "init.mp4")); !e.IsDir() || err != nil {
			continue
		}
		tracks++
		prot := testtools.ReadProtection(t, filepath.Join(dir, "init.mp4"))
		kid, err := drm.ParseKeyID(prot.KID)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := a.Keys.Get(ctx, kid)
		if err != nil {
			t.Fatalf("%s: KID %s is not in the server's store: %v", e.Name(), kid, err)
		}
		stream, want := "v:0", keys.HD // sample.mp4 is 1280x720
		if strings.Contains(e.Name(), "audio") {
			stream, want = "a:0", keys.Audio
		}
		if stored.ContentID != "movie" || stored.TrackType != want {
			t.Errorf("%s: key of %s/%s, want movie/%s", e.Name(), stored.ContentID, stored.TrackType, want)
		}
		whole := testtools.ConcatTrack(t, dir)
		if got := testtools.FrameMD5(t, whole, "0", hex.EncodeToString(stored.Key.Key)); !slices.Equal(got, clear[stream]) {
			t.Errorf("%s: packets decrypted with the store's key differ from the clear input", e.Name())
		}
		if stream == "v:0" {
			if got := testtools.FrameMD5(t, whole, "0", ""); slices.Equal(got, clear[stream]) {
				t.Errorf("%s: not encrypted", e.Name())
			}
		}
	}
	if tracks < 2 {
		t.Fatalf("%d tracks packaged", tracks)
	}
	if n := auditCount(t, a, "broker.fetch", "movie"); n != 1 {
		t.Errorf("%d broker.fetch audit entries, want 1", n)
	}
	// The same URL fetched by another worker's key is refused (bound).
	other := newWorker(t)
	_, stderr, code = runCLI(t, "package", "-q", "-o", filepath.Join(t.TempDir(), "o2"), "--cpix", signed, "--cpix-key", other.keyFile, clip)
	if code == 0 || !strings.Contains(stderr, "403 forbidden") || strings.Contains(stderr, pu.Query().Get("sig")) {
		t.Errorf("other worker: exit %d, stderr %q", code, stderr)
	}
}

type errorBody struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter int    `json:"retryAfter"`
}

func post(t *testing.T, u, contentType string, body []byte, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestBrokerRefusals: expired, tampered, other-content, over-long and
// wrong-recipient URLs, and requests without a certificate, are refused
// with the error schema, never touch keys, and are audited.
func TestBrokerRefusals(t *testing.T) {
	a := startApp(t, brokerYAML)
	key := brokerKeyBytes
	w, intruder := newWorker(t), newWorker(t)
	sign := func(g delivery.BrokerGrant) string {
		u, err := delivery.SignBrokerURL(key, a.url, g)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	now := time.Now()
	valid := sign(delivery.BrokerGrant{ContentID: "film", KeysPer: delivery.KeysPerAsset, Expires: now.Add(5 * time.Minute), Recipient: delivery.RecipientFingerprint(w.cert)})
	vu, _ := url.Parse(valid)
	tamper := func(k, v string) string {
		q := vu.Query()
		q.Set(k, v)
		c := *vu
		c.RawQuery = q.Encode()
		return c.String()
	}
	sig := []byte(vu.Query().Get("sig"))
	sig[0] ^= 1
	cases := []struct {
		name   string
		url    string
		cert   []byte
		status int
		code   string
		target string
	}{
		{"expired", sign(delivery.BrokerGrant{ContentID: "film", KeysPer: delivery.KeysPerAsset, Expires: now.Add(-time.Second)}), w.pem(), 403, "token_expired", "film"},
		{"tampered signature", tamper("sig", string(sig)), w.pem(), 403, "forbidden", "film"},
		{"other content", tamper("content", "other-film"), w.pem(), 403, "forbidden", "other-film"},
		{"longer than broker_url_ttl", sign(delivery.BrokerGrant{ContentID: "film", KeysPer: delivery.KeysPerAsset, Expires: now.Add(time.Hour)}), w.pem(), 403, "forbidden", "film"},
		{"signed with another key", func() string {
			k := append([]byte{}, key...)
			k[5] ^= 0x80
			u, _ := delivery.SignBrokerURL(k, a.url, delivery.BrokerGrant{ContentID: "film", KeysPer: delivery.KeysPerAsset, Expires: now.Add(time.Minute)})
			return u
		}(), w.pem(), 403, "forbidden", "film"},
		{"wrong certificate", valid, intruder.pem(), 403, "forbidden", "film"},
		{"no certificate", valid, nil, 400, "invalid_request", "film"},
		{"not a certificate", valid, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 400, "invalid_request", "film"},
	}
	for _, tc := range cases {
		before := auditCount(t, a, "broker.refuse", tc.target)
		status, body := post(t, tc.url, "application/x-pem-file", tc.cert)
		var eb errorBody
		if err := json.Unmarshal(body, &eb); err != nil || status != tc.status || eb.Code != tc.code || eb.Message == "" {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.code)
		}
		if bytes.Contains(body, []byte("PlainValue")) || bytes.Contains(body, []byte("ContentKey")) {
			t.Errorf("%s: keys in a refusal", tc.name)
		}
		if err := a.FlushAudit(context.Background()); err != nil {
			t.Fatal(err)
		}
		if after := auditCount(t, a, "broker.refuse", tc.target); after != before+1 {
			t.Errorf("%s: refusal not audited (%d -> %d)", tc.name, before, after)
		}
	}
	for _, cid := range []string{"film", "other-film"} {
		if list, _ := a.Keys.List(context.Background(), cid); len(list) != 0 {
			t.Errorf("refused requests created %d keys for %s", len(list), cid)
		}
	}
	// The valid URL with the right certificate works, with GET too.
	req, _ := http.NewRequest(http.MethodGet, valid+"&cert="+base64.RawURLEncoding.EncodeToString(w.cert.Raw), nil)
	status, body := do(t, req)
	if status != 200 {
		t.Fatalf("valid GET: %d %s", status, body)
	}
	checkEncryptedCPIX(t, a, body, w.priv, "film", keys.All)
}

// checkEncryptedCPIX decrypts a broker answer with the worker's key and
// compares every key with the server's store.
func checkEncryptedCPIX(t *testing.T, a *testApp, body []byte, priv *rsa.PrivateKey, contentID string, types ...keys.TrackType) {
	t.Helper()
	if bytes.Contains(body, []byte("PlainValue")) {
		t.Fatal("clear keys in a broker answer")
	}
	doc, err := cpix.Unmarshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if !doc.Encrypted() || doc.ContentID != contentID {
		t.Fatalf("document for %q, encrypted %v", doc.ContentID, doc.Encrypted())
	}
	if err := cpix.DecryptKeys(doc, priv); err != nil {
		t.Fatal(err)
	}
	if len(doc.ContentKeys) != len(types) || len(doc.UsageRules) != len(types) {
		t.Fatalf("%d keys, %d rules, want %d", len(doc.ContentKeys), len(doc.UsageRules), len(types))
	}
	for i, ck := range doc.ContentKeys {
		stored, err := a.Keys.Get(context.Background(), ck.KID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(stored.Key.Key, ck.Value) || stored.ContentID != contentID || stored.TrackType != types[i] || doc.UsageRules[i].IntendedTrackType != types[i].String() {
			t.Errorf("key %d (%s) differs from the store's", i, ck.KID)
		}
	}
}

// TestBrokerAdminAPI: POST /v1/admin/broker-urls needs the admin scope,
// bounds the ttl, binds a posted certificate, and returns a URL the broker
// endpoint serves.
func TestBrokerAdminAPI(t *testing.T) {
	a := startApp(t, brokerYAML)
	ctx := context.Background()
	admin, _, err := a.APIKeys.Create(ctx, "ops", []apikey.Scope{apikey.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	speke, _, _ := a.APIKeys.Create(ctx, "enc", []apikey.Scope{apikey.ScopeSPEKE})
	w := newWorker(t)
	reqBody := func(m map[string]string) []byte { b, _ := json.Marshal(m); return b }
	ep := a.url + "/v1/admin/broker-urls"
	for _, tc := range []struct {
		name   string
		token  string
		body   []byte
		status int
		code   string
	}{
		{"no token", "", reqBody(map[string]string{"contentId": "x"}), 401, "unauthorized"},
		{"speke scope", speke, reqBody(map[string]string{"contentId": "x"}), 403, "forbidden"},
		{"ttl too long", admin, reqBody(map[string]string{"contentId": "x", "ttl": "11m"}), 400, "invalid_request"},
		{"bad keysPer", admin, reqBody(map[string]string{"contentId": "x", "keysPer": "all"}), 400, "invalid_request"},
		{"no content", admin, reqBody(map[string]string{"keysPer": "asset"}), 400, "invalid_request"},
		{"unknown field", admin, []byte(`{"contentId":"x","key":"y"}`), 400, "invalid_request"},
		{"bad certificate", admin, reqBody(map[string]string{"contentId": "x", "certificate": "nope"}), 400, "invalid_request"},
	} {
		status, body := post(t, ep, "application/json", tc.body, "Authorization", "Bearer "+tc.token)
		var eb errorBody
		if json.Unmarshal(body, &eb); status != tc.status || eb.Code != tc.code {
			t.Errorf("%s: %d %s", tc.name, status, body)
		}
	}
	status, body := post(t, ep, "application/json", reqBody(map[string]string{"contentId": "series-1", "keysPer": "track-type", "ttl": "3m", "certificate": string(w.pem())}), "Authorization", "Bearer "+admin)
	var got struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	if err := json.Unmarshal(body, &got); status != 200 || err != nil {
		t.Fatalf("issue: %d %s", status, body)
	}
	if d := time.Until(got.ExpiresAt); d <= 2*time.Minute || d > 3*time.Minute {
		t.Errorf("expiresAt in %s, want about 3m", d)
	}
	if !strings.HasPrefix(got.URL, a.url+delivery.BrokerPath+"?") {
		t.Fatalf("url %s", got.URL)
	}
	if n := auditCount(t, a, "broker.issue", "series-1"); n != 1 {
		t.Errorf("%d broker.issue audit entries", n)
	}
	status, body = post(t, got.URL, "application/x-pem-file", w.pem())
	if status != 200 {
		t.Fatalf("fetch: %d %s", status, body)
	}
	checkEncryptedCPIX(t, a, body, w.priv, "series-1", keys.Audio, keys.SD, keys.HD, keys.UHD1, keys.UHD2)
	// Fetching again returns the same keys (get-or-create).
	list1, _ := a.Keys.List(ctx, "series-1")
	post(t, got.URL, "application/x-pem-file", w.pem())
	if list2, _ := a.Keys.List(ctx, "series-1"); len(list2) != len(list1) || len(list1) != 5 {
		t.Errorf("keys after two fetches: %d then %d, want 5", len(list1), len(list2))
	}
	if n := auditCount(t, a, "broker.fetch", "series-1"); n != 2 {
		t.Errorf("%d broker.fetch audit entries, want 2", n)
	}
}

// TestBrokerOff: without keys.broker_hmac_key both endpoints answer 404
// with the error schema, and the CLI refuses to sign.
func TestBrokerOff(t *testing.T) {
	a := startApp(t, "")
	for _, p := range []string{"/v1/admin/broker-urls", delivery.BrokerPath + "?content=x&keysPer=asset&exp=1&sig=AAAA"} {
		status, body := post(t, a.url+p, "application/json", []byte("{}"))
		var eb errorBody
		if json.Unmarshal(body, &eb); status != 404 || eb.Code != "not_found" {
			t.Errorf("%s: %d %s", p, status, body)
		}
	}
	if _, stderr, code := runCLI(t, "keys", "broker-url", "--config", a.cfgFile, "--content-id", "x"); code == 0 || !strings.Contains(stderr, "broker_hmac_key") {
		t.Errorf("broker-url without a key: %d %s", code, stderr)
	}
}

// brokerRefusalRows returns the broker.refuse audit rows of one target
// (up to apikey.MaxAuditLimit) and the refused attempts they stand for (the
// count= of aggregated rows; a row without one stands for one attempt).
func brokerRefusalRows(t *testing.T, a *testApp, target string) (rows, attempts int) {
	t.Helper()
	list, err := a.Keys.ListAudit(context.Background(), apikey.AuditQuery{Target: target, Limit: apikey.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Action != "broker.refuse" {
			continue
		}
		rows++
		n := 1
		for _, f := range strings.Fields(e.Detail) {
			if v, ok := strings.CutPrefix(f, "count="); ok {
				if n, err = strconv.Atoi(v); err != nil {
					t.Fatalf("count in %q: %v", e.Detail, err)
				}
			}
		}
		attempts += n
	}
	return rows, attempts
}

// TestBrokerRefusalFlood (issue 16, defect 7): an unauthenticated client
// sending 2,000 forged broker URLs must not write 2,000 audit rows. The
// rate limit and signature check come before any audit write, refusals are
// aggregated per (client, reason, content) and window, so the flood leaves
// a handful of rows that still account for every attempt; a worker with a
// valid URL from another address is served and audited at once.
func TestBrokerRefusalFlood(t *testing.T) {
	a := startApp(t, "  trusted_proxies: [127.0.0.1/32]\n"+brokerYAML+"  broker_rate_limit: 5\n  broker_rate_burst: 10\n")
	const flood = 2000
	forged := a.url + delivery.BrokerPath + "?content=flood&keysPer=asset&exp=4102444800&sig=" + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	start := time.Now()
	codes := map[int]int{}
	for range flood {
		req, _ := http.NewRequest(http.MethodGet, forged, nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	elapsed := time.Since(start)
	if codes[http.StatusForbidden]+codes[http.StatusTooManyRequests] != flood {
		t.Fatalf("answers to the flood: %v", codes)
	}
	// Refusals are written when their window closes (at the latest on
	// shutdown); FlushAudit closes it now.
	if err := a.FlushAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, attempts := brokerRefusalRows(t, a, "flood")
	t.Logf("%d refused requests in %s: %d audit rows (%.0f rows/s), accounting for %d attempts; answers %v",
		flood, elapsed.Round(time.Millisecond), rows, float64(rows)/elapsed.Seconds(), attempts, codes)
	if rows > 10 {
		t.Errorf("%d audit rows for %d refused requests from one client, want at most 10", rows, flood)
	}
	if attempts != flood {
		t.Errorf("the audit rows account for %d refused attempts, want %d", attempts, flood)
	}
	// The rows name the client (X-Forwarded-For from a trusted proxy).
	if list, _ := a.Keys.ListAudit(context.Background(), apikey.AuditQuery{Actor: "broker:203.0.113.7"}); len(list) != rows {
		t.Errorf("%d of %d refusal rows name the client", len(list), rows)
	}
	// A worker elsewhere still gets its keys, and the delivery has its row.
	w := newWorker(t)
	valid, err := delivery.SignBrokerURL(brokerKeyBytes, a.url, delivery.BrokerGrant{ContentID: "film", KeysPer: delivery.KeysPerAsset, Expires: time.Now().Add(time.Minute), Recipient: delivery.RecipientFingerprint(w.cert)})
	if err != nil {
		t.Fatal(err)
	}
	status, body := post(t, valid, "application/x-pem-file", w.pem(), "X-Forwarded-For", "198.51.100.9")
	if status != http.StatusOK {
		t.Fatalf("valid fetch after the flood: %d %s", status, body)
	}
	checkEncryptedCPIX(t, a, body, w.priv, "film", keys.All)
	if n := auditCount(t, a, "broker.fetch", "film"); n != 1 {
		t.Errorf("%d broker.fetch rows, want 1", n)
	}
}

// TestKeysAuditPrune: `drmpipe keys audit prune` deletes old broker rows
// (deliveries and aggregated refusals) of a serving store, keeps
// revocations and admin actions however old, and keeps recent rows.
func TestKeysAuditPrune(t *testing.T) {
	a := startApp(t, brokerYAML)
	ctx := context.Background()
	old := time.Now().Add(-100 * 24 * time.Hour)
	for _, e := range []apikey.Entry{
		{Actor: "broker:192.0.2.1", Action: apikey.ActionBrokerRefuse, Target: "prune-me", At: old, Detail: "count=500 reason=invalid signature"},
		{Actor: "broker:192.0.2.1", Action: apikey.ActionBrokerFetch, Target: "prune-me", At: old},
		{Actor: "apikey:ops", Action: "revoke.user", Target: "keep-me", At: old},
		{Actor: "apikey:ops", Action: "broker.issue", Target: "keep-me", At: old},
		{Actor: "broker:192.0.2.1", Action: apikey.ActionBrokerFetch, Target: "keep-me", At: time.Now().Add(-24 * time.Hour)},
	} {
		if err := a.Keys.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := runCLI(t, "keys", "audit", "prune", "--config", a.cfgFile)
	if code != 0 || !strings.Contains(out, "deleted 2 audit row(s)") {
		t.Fatalf("keys audit prune: %d %s %s", code, out, stderr)
	}
	if list, _ := a.Keys.ListAudit(ctx, apikey.AuditQuery{Target: "prune-me"}); len(list) != 0 {
		t.Errorf("old broker rows kept: %+v", list)
	}
	if list, _ := a.Keys.ListAudit(ctx, apikey.AuditQuery{Target: "keep-me"}); len(list) != 3 {
		t.Errorf("%d rows kept of revocation, admin action and recent delivery, want 3", len(list))
	}
	if out, _, code := runCLI(t, "keys", "audit", "prune", "--config", a.cfgFile, "--older-than", "1h"); code != 0 || !strings.Contains(out, "deleted 1 audit row(s)") {
		t.Errorf("--older-than 1h: %d %s", code, out)
	}
	if _, _, code := runCLI(t, "keys", "audit", "prune", "--config", a.cfgFile, "--older-than", "-1h"); code == 0 {
		t.Error("negative --older-than accepted")
	}
}
