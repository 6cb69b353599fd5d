package apikey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/httperr"
)

func TestHTTPAuthenticator(t *testing.T) {
	ctx := context.Background()
	m := newMem()
	s := New(m)
	speke, k := createKey(t, s, "encoder", ScopeSPEKE)
	revoked, rk, _ := s.Create(ctx, "old", []Scope{ScopeSPEKE})
	if err := s.Revoke(ctx, rk.ID); err != nil {
		t.Fatal(err)
	}
	a := NewHTTPAuthenticator(s)

	for _, c := range []struct {
		name      string
		headers   []string
		scope     string
		status    int
		challenge string
	}{
		{"ok", []string{"Bearer " + speke}, "speke", 200, ""},
		{"scheme case", []string{"bearer  " + speke}, "speke", 200, ""},
		{"missing", nil, "speke", 401, `Bearer realm="drmpipe"`},
		// RFC 6750 §3.1: another scheme is no authentication information.
		{"basic", []string{"Basic " + speke}, "speke", 401, `Bearer realm="drmpipe"`},
		{"two headers", []string{"Bearer " + speke, "Bearer " + speke}, "speke", 401, `Bearer realm="drmpipe", error="invalid_token"`},
		{"malformed", []string{"Bearer dp_nope"}, "speke", 401, `Bearer realm="drmpipe", error="invalid_token"`},
		{"revoked", []string{"Bearer " + revoked}, "speke", 401, `Bearer realm="drmpipe", error="invalid_token"`},
		{"wrong scope", []string{"Bearer " + speke}, "admin", 403, `Bearer realm="drmpipe", error="insufficient_scope"`},
		{"bad scope name", []string{"Bearer " + speke}, "root", 500, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/speke/v2/copyProtection", nil)
			for _, h := range c.headers {
				r.Header.Add("Authorization", h)
			}
			p, err := a.Authenticate(r, c.scope)
			w := httptest.NewRecorder()
			if err == nil {
				if p != "apikey:"+k.ID {
					t.Fatalf("principal %q", p)
				}
				w.WriteHeader(200)
			} else {
				httperr.Write(w, r, nil, err)
			}
			if w.Code != c.status {
				t.Fatalf("status %d, want %d (%v)", w.Code, c.status, err)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != c.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, c.challenge)
			}
			if c.status != 200 {
				var body httperr.Body
				raw, _ := io.ReadAll(w.Body)
				if err := json.Unmarshal(raw, &body); err != nil || body.Code == "" {
					t.Fatalf("body %s: %v", raw, err)
				}
				if strings.Contains(string(raw), speke[10:]) {
					t.Fatal("response echoes the token")
				}
			}
		})
	}

	m.fail = errors.New("database is down")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+speke)
	_, err := a.Authenticate(r, "speke")
	var he *httperr.Error
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("store down: %v", err)
	}
}

func TestRequire(t *testing.T) {
	s := New(newMem())
	admin, k, err := s.Create(context.Background(), "op", []Scope{ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHTTPAuthenticator(s).Require(ScopeAdmin, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		io.WriteString(w, p)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := do(admin)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "apikey:"+k.ID {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp = do("")
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestAuthenticateEncoder: live encoders may send the API token as the
// HTTP Basic password (ffmpeg's http://user:TOKEN@host/... URLs) or as a
// bearer token; the scope is still checked.
func TestAuthenticateEncoder(t *testing.T) {
	ctx := context.Background()
	s := New(newMem())
	ingest, k := createKey(t, s, "encoder", ScopeIngest)
	speke, _, _ := s.Create(ctx, "other", []Scope{ScopeSPEKE})
	a := NewHTTPAuthenticator(s)
	for _, c := range []struct {
		name   string
		header string
		status int
	}{
		{"basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("enc:"+ingest)), 200},
		{"basic no user", "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+ingest)), 200},
		{"bearer", "Bearer " + ingest, 200},
		{"basic empty password", "Basic " + base64.StdEncoding.EncodeToString([]byte(ingest+":")), 401},
		{"basic wrong scope", "Basic " + base64.StdEncoding.EncodeToString([]byte("enc:"+speke)), 403},
		{"basic garbage", "Basic !!!", 401},
		{"none", "", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "/ingest/ch/x.m4s", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			p, err := a.AuthenticateEncoder(r, ScopeIngest)
			status := 200
			var he *httperr.Error
			if errors.As(err, &he) {
				status = he.Status
			} else if err != nil {
				t.Fatal(err)
			}
			if status != c.status {
				t.Fatalf("status %d, want %d (%v)", status, c.status, err)
			}
			if status == 200 && p != "apikey:"+k.ID {
				t.Fatalf("principal %q", p)
			}
		})
	}
}
