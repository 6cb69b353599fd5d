package observability

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
	"go.opentelemetry.io/otel/trace"
)

// A JWT-shaped token (header {"alg":"ES256","typ":"JWT"}); the signature is random.
func fakeJWT(t *testing.T) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT"}`))
	p := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice","cid":"movie-1"}`))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(testtools.RandomBytes(t, 64))
}

func TestLoggerRedaction(t *testing.T) {
	keyHex := testtools.RandomHex(t, 16)
	kek := testtools.RandomHex(t, 32)
	keyB64 := base64.StdEncoding.EncodeToString(testtools.RandomBytes(t, 16))
	keyB64URL32 := base64.URLEncoding.EncodeToString(testtools.RandomBytes(t, 32))
	jwt := fakeJWT(t)
	kid := testtools.RandomHex(t, 16)

	cases := []struct {
		name   string
		log    func(l *slog.Logger)
		secret string // must not appear
		keep   string // must appear (context kept)
	}{
		{"secret key name token", func(l *slog.Logger) { l.Info("m", "token", "plainvalue123") }, "plainvalue123", `"token":"******"`},
		{"secret key name password", func(l *slog.Logger) { l.Info("m", "password", "hunter2") }, "hunter2", `"password":"******"`},
		{"secret key name pin", func(l *slog.Logger) { l.Info("m", "pin", 1234) }, "1234", `"pin":"******"`},
		{"authorization header", func(l *slog.Logger) { l.Info("m", "Authorization", "whatever") }, "whatever", `"Authorization":"******"`},
		{"compound vendor_token", func(l *slog.Logger) { l.Info("m", "vendor_token", "s3cr3t-v") }, "s3cr3t-v", `"vendor_token":"******"`},
		{"jwt in message", func(l *slog.Logger) { l.Info("verifying " + jwt + " now") }, jwt, `"msg":"verifying ****** now"`},
		{"jwt under neutral key", func(l *slog.Logger) { l.Info("m", "detail", "got "+jwt) }, jwt, `"detail":"got ******"`},
		{"bearer credential", func(l *slog.Logger) { l.Info("m", "hdr", "Bearer abc.def-ghi") }, "abc.def-ghi", `"hdr":"******"`},
		{"hex content key", func(l *slog.Logger) { l.Info("m", "note", "k="+keyHex) }, keyHex, `"note":"k=******"`},
		{"hex KEK 256-bit", func(l *slog.Logger) { l.Info("m", "x", kek) }, kek, `"x":"******"`},
		{"base64 16-byte key", func(l *slog.Logger) { l.Info("m", "x", keyB64) }, keyB64, `"x":"******"`},
		{"base64url 32-byte key", func(l *slog.Logger) { l.Info("m", "x", keyB64URL32) }, keyB64URL32, `"x":"******"`},
		{"error carrying key", func(l *slog.Logger) { l.Info("m", "err", errors.New("unwrap failed for "+keyHex)) }, keyHex, `unwrap failed for ******`},
		{"raw bytes", func(l *slog.Logger) { l.Info("m", "blob", []byte(keyHex)) }, keyHex, `"blob":"[32 bytes]"`},
		{"group nested password", func(l *slog.Logger) {
			l.Info("m", slog.Group("redis", "password", "pw-in-group", "addr", "127.0.0.1:6379"))
		}, "pw-in-group", `"addr":"127.0.0.1:6379"`},
		{"WithAttrs secret", func(l *slog.Logger) { l.With("api_key", "kkkkkk-1").Info("m") }, "kkkkkk-1", `"api_key":"******"`},
		{"struct with key", func(l *slog.Logger) { l.Info("m", "v", struct{ K string }{keyHex}) }, keyHex, `"v":`},
		{"kid is public", func(l *slog.Logger) { l.Info("m", "kid", kid) }, "", `"kid":"` + kid + `"`},
		{"plain values kept", func(l *slog.Logger) { l.Info("license issued", "drm", "widevine", "outcome", "ok", "key_id_count", 3) }, "", `"drm":"widevine"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(NewLogger(LogConfig{Level: "debug"}, &buf))
			out := buf.String()
			if !json.Valid(bytes.TrimSpace(buf.Bytes())) {
				t.Fatalf("not JSON: %s", out)
			}
			if tc.secret != "" && strings.Contains(out, tc.secret) {
				t.Errorf("secret leaked: %s", out)
			}
			if !strings.Contains(out, tc.keep) {
				t.Errorf("want %s in %s", tc.keep, out)
			}
		})
	}
}

func TestLoggerLevelAndContext(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(LogConfig{Level: "warn"}, &buf)
	l.Info("hidden")
	if buf.Len() != 0 {
		t.Fatalf("info logged at warn level: %s", buf.String())
	}
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(WithRequestID(context.Background(), "req-42"),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	l.WarnContext(ctx, "slow upstream")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["request_id"] != "req-42" || rec["trace_id"] != tid.String() || rec["span_id"] != sid.String() || rec["level"] != "WARN" {
		t.Errorf("record %v", rec)
	}
	if _, err := ParseLevel("loud"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseLevel(loud) = %v", err)
	}
}

func TestIsSecretKey(t *testing.T) {
	for name, want := range map[string]bool{
		"token": true, "TOKEN": true, "key": true, "password": true, "pin": true, "authorization": true,
		"signing_key": true, "vendor-token": true, "db.password": true, "hmac_key": true, "client_secret": true,
		"kid": false, "key_id": false, "token_header": false, "drm": false, "outcome": false, "request_id": false,
		"cache.hit": false, "keys": false,
	} {
		if got := IsSecretKey(name); got != want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRequestID(t *testing.T) {
	h := http.Header{}
	h.Set(RequestIDHeader, "abc-123")
	if got := RequestIDFromHeader(h); got != "abc-123" {
		t.Errorf("kept id = %q", got)
	}
	for _, bad := range []string{"", "has space", strings.Repeat("a", 65), "x\ny", fakeJWT(t), testtools.RandomHex(t, 16)} {
		h.Set(RequestIDHeader, bad)
		got := RequestIDFromHeader(h)
		if got == bad || len(got) != 16 || LooksSecret(got) {
			t.Errorf("header %q: got %q, want a fresh 16-char id", bad, got)
		}
	}
	var seen string
	srv := RequestIDMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = RequestID(r.Context()) }))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(RequestIDHeader, "from-client")
	srv.ServeHTTP(rec, req)
	if seen != "from-client" || rec.Header().Get(RequestIDHeader) != "from-client" {
		t.Errorf("middleware: ctx %q, header %q", seen, rec.Header().Get(RequestIDHeader))
	}
}

// TestMayHoldSecretFilter: the cheap filter never lets through a string
// one of the patterns would catch.
func TestMayHoldSecretFilter(t *testing.T) {
	for _, s := range []string{"eyJhbGciOi.x", "Bearer abc", "basic Zm9v", "BASIC x", "00112233445566778899aabbccddeeff",
		"ABEiM0RVZneImaq7zN3u/w==", "/license/clearkey", "request", "POST"} {
		slow := false
		for _, re := range secretPatterns {
			slow = slow || re.MatchString(s)
		}
		if slow && !mayHoldSecret(s) {
			t.Errorf("%q matches a secret pattern but the filter skips it", s)
		}
		if LooksSecret(s) != slow {
			t.Errorf("LooksSecret(%q) = %v, patterns say %v", s, !slow, slow)
		}
	}
}
