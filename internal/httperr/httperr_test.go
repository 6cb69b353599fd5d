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
