package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// echo answers POST /ok with what it was sent, /refused with the error
// schema, /html with a body that is not JSON.
func echo(t *testing.T) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			b, _ := io.ReadAll(r.Body)
			_ = json.NewEncoder(w).Encode(map[string]string{
				"auth": r.Header.Get("Authorization"), "type": r.Header.Get("Content-Type"),
				"extra": r.Header.Get("Idempotency-Key"), "body": string(b), "method": r.Method,
			})
		case "/refused":
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"code":"forbidden","message":"scope admin required"}`)
		case "/html":
			_, _ = io.WriteString(w, "<html>")
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestDo(t *testing.T) {
	ts := echo(t)
	c := Client{Name: "test API", Server: ts.URL + "/", APIKey: "k1"}
	ctx := context.Background()

	var got map[string]string
	status, err := c.Do(ctx, http.MethodPost, "/ok", map[string]int{"a": 1}, http.Header{"Idempotency-Key": {"i1"}}, &got)
	if err != nil || status != http.StatusOK {
		t.Fatalf("Do /ok: %d %v", status, err)
	}
	want := map[string]string{"auth": "Bearer k1", "type": "application/json", "extra": "i1", "body": `{"a":1}`, "method": "POST"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("server saw %s %q, want %q", k, got[k], v)
		}
	}

	// No body: no Content-Type; a nil out ignores the answer.
	got = nil
	if _, err := c.Do(ctx, http.MethodGet, "/ok", nil, nil, &got); err != nil || got["type"] != "" || got["body"] != "" {
		t.Errorf("GET without body: %v %v", got, err)
	}
	if _, err := c.Do(ctx, http.MethodDelete, "/html", nil, nil, nil); err != nil {
		t.Errorf("nil out: %v", err)
	}

	status, err = c.Do(ctx, http.MethodGet, "/refused", nil, nil, &got)
	var ae *Error
	if !errors.As(err, &ae) || status != http.StatusForbidden || ae.Status != http.StatusForbidden || ae.Code != "forbidden" || ae.Message != "scope admin required" {
		t.Fatalf("refused: %d %#v", status, err)
	}
	if want := "test API answered 403 forbidden: scope admin required"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}

	if _, err := c.Do(ctx, http.MethodGet, "/html", nil, nil, &got); err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "without JSON") {
		t.Errorf("non-JSON answer: %v", err)
	}
}

func TestDoTransportError(t *testing.T) {
	ts := echo(t)
	ts.Close()
	c := Client{Name: "test API", Server: ts.URL, APIKey: "secret-key"}
	status, err := c.Do(context.Background(), http.MethodGet, "/ok", nil, nil, nil)
	var ae *Error
	if err == nil || status != 0 || errors.As(err, &ae) || !strings.HasPrefix(err.Error(), "test API "+ts.URL+": ") {
		t.Fatalf("closed server: %d %v", status, err)
	}
	if strings.Contains(err.Error(), "secret-key") {
		t.Errorf("error carries the API key: %v", err)
	}
}
