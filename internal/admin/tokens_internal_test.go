package admin

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

// TestIssueParsesTrackTypesAndKIDs: a token request's trackTypes and kids
// become the token's tt and kids claims in request order; one bad entry is
// a 400 naming the field, and an absent list leaves the claim out (any
// track type, any key).
func TestIssueParsesTrackTypesAndKIDs(t *testing.T) {
	signer, err := entitlement.NewSigner(entitlement.SignerConfig{Dir: t.TempDir(), Issuer: "drmpipe", Audience: "test"})
	if err != nil {
		t.Fatal(err)
	}
	h := NewTokenHandlers(signer, nil, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const kid1, kid2 = "6e5a1d26-2757-47d7-8046-eaa5d1d34b5a", "0f6a1f2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
	for _, c := range []struct {
		name     string
		req      TokenRequest
		status   int
		body     string   // substring of the error body
		tt, kids []string // claims of a minted token
	}{
		{"none", TokenRequest{}, 200, "", nil, nil},
		{"both", TokenRequest{TrackTypes: []string{"hd", "AUDIO"}, KIDs: []string{kid2, kid1}}, 200, "", []string{"HD", "AUDIO"}, []string{kid2, kid1}},
		{"bad track type", TokenRequest{TrackTypes: []string{"HD", "8K"}}, 400, "unknown track type", nil, nil},
		{"bad kid", TokenRequest{TrackTypes: []string{"SD"}, KIDs: []string{kid1, "not-a-uuid"}}, 400, "kids must be UUIDs", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.req.User, c.req.Content = "alice", "movie"
			w := httptest.NewRecorder()
			h.issue(w, httptest.NewRequest(http.MethodPost, "/v1/tokens", nil), c.req)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.status != 200 {
				if !strings.Contains(w.Body.String(), c.body) {
					t.Errorf("body %s, want %q", w.Body, c.body)
				}
				return
			}
			var resp TokenResponse
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(resp.Token, ".")
			if len(parts) != 3 {
				t.Fatalf("token %q is not a JWS compact serialization", resp.Token)
			}
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			var claims struct {
				TT   []string `json:"tt"`
				KIDs []string `json:"kids"`
			}
			if err := json.Unmarshal(payload, &claims); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(claims.TT, c.tt) || !slices.Equal(claims.KIDs, c.kids) {
				t.Errorf("claims tt %q kids %q, want %q %q", claims.TT, claims.KIDs, c.tt, c.kids)
			}
		})
	}
}
