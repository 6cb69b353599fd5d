package httperr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	secret := "k=0123456789abcdef"
	cases := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   Code
		wantRetry  string
	}{
		{"typed", New(http.StatusForbidden, CodeGeoBlocked, "not available in your country"), 403, CodeGeoBlocked, ""},
		{"wrapped typed", fmt.Errorf("handler: %w", &Error{Status: 503, Code: CodeUpstreamUnavailable, Message: "license server unavailable", RetryAfter: 7, Cause: errors.New(secret)}), 503, CodeUpstreamUnavailable, "7"},
		{"plain error", errors.New(secret), 500, CodeInternal, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			rec := httptest.NewRecorder()
			Write(rec, httptest.NewRequest("POST", "/license/clearkey", nil), log, tc.err)
			if rec.Code != tc.wantStatus {
				t.Errorf("status %d", rec.Code)
			}
			var b Body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatal(err)
			}
			if b.Code != tc.wantCode || b.Message == "" {
				t.Errorf("body %+v", b)
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Error("cause leaked into the response")
			}
			if rec.Header().Get("Retry-After") != tc.wantRetry {
				t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
			}
			if tc.wantRetry != "" && b.RetryAfter == 0 {
				t.Error("retryAfter missing from body")
			}
		})
	}
}

// TestBearerChallenge: RFC 6750 §3 challenges, sent by Write as
// WWW-Authenticate.
func TestBearerChallenge(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		auth   string
		want   string
	}{
		{"401 without credentials", 401, "", `Bearer realm="drmpipe"`},
		{"401 with refused credentials", 401, "Bearer nope", `Bearer realm="drmpipe", error="invalid_token"`},
		{"401 with refused credentials, scheme case", 401, "bearer nope", `Bearer realm="drmpipe", error="invalid_token"`},
		// RFC 6750 §3.1: an unsupported authentication method is no
		// authentication information: no error code.
		{"401 with Basic credentials", 401, "Basic YWRtaW46eA==", `Bearer realm="drmpipe"`},
		{"403", 403, "Bearer ok", `Bearer realm="drmpipe", error="insufficient_scope"`},
		{"400", 400, "Bearer ok", ""},
		{"503", 503, "Bearer ok", ""},
	} {
		r := httptest.NewRequest(http.MethodPost, "/v1/admin/revocations", nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		w := httptest.NewRecorder()
		Write(w, r, nil, fmt.Errorf("wrapped: %w", New(c.status, CodeUnauthorized, "m").Bearer(r)))
		if got := w.Header().Get("WWW-Authenticate"); got != c.want || w.Code != c.status {
			t.Errorf("%s: %d WWW-Authenticate %q, want %q", c.name, w.Code, got, c.want)
		}
	}
}
