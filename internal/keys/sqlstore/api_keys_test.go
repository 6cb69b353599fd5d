package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
)

var tokenRE = regexp.MustCompile(`^dp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$`)

func TestAPIKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		f := open(t, be)
		ks := f.store.APIKeys()

		speke, k1, err := ks.Create(ctx, "mediapackage-eu", []apikey.Scope{apikey.ScopeSPEKE, apikey.ScopeSPEKE})
		if err != nil {
			t.Fatal(err)
		}
		m := tokenRE.FindStringSubmatch(speke)
		if m == nil || m[1] != k1.ID {
			t.Fatalf("token %q does not have the dp_<id>_<secret> form of key %s", speke, k1.ID)
		}
		if len(k1.Scopes) != 1 || k1.Revoked() || k1.CreatedAt.IsZero() {
			t.Fatalf("created key %+v", k1)
		}
		admin, k2, err := ks.Create(ctx, "ops", []apikey.Scope{apikey.ScopeLicenseToken, apikey.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}

		// Happy path, and last_used_at is recorded.
		got, err := ks.Authenticate(ctx, speke, apikey.ScopeSPEKE)
		if err != nil || got.ID != k1.ID || got.Name != "mediapackage-eu" || got.LastUsedAt.IsZero() {
			t.Fatalf("Authenticate: %+v %v", got, err)
		}
		if _, err := ks.Authenticate(ctx, admin, apikey.ScopeLicenseToken); err != nil {
			t.Fatal(err)
		}
		// Wrong scope: authenticated but forbidden.
		if _, err := ks.Authenticate(ctx, speke, apikey.ScopeAdmin); !errors.Is(err, apikey.ErrForbidden) {
			t.Fatalf("wrong scope: %v", err)
		}
		// Unknown ID, and known ID with a wrong secret (the constant-time
		// comparison is what refuses it: the ID matches a row).
		secret := m[2]
		other := "A" + secret[1:] // still well-formed base64url
		if secret[0] == 'A' {
			other = "B" + secret[1:]
		}
		for name, tok := range map[string]string{
			"unknown id":   "dp_0123456789abcdef_" + secret,
			"wrong secret": "dp_" + k1.ID + "_" + other,
			"other's id":   "dp_" + k2.ID + "_" + secret,
			"malformed":    speke[:len(speke)-1],
			"no prefix":    speke[3:],
			"empty":        "",
		} {
			_, err := ks.Authenticate(ctx, tok, apikey.ScopeSPEKE)
			if !errors.Is(err, apikey.ErrUnauthenticated) {
				t.Errorf("%s: %v", name, err)
			}
			if err != nil && tok != "" && strings.Contains(err.Error(), tok) {
				t.Errorf("%s: error echoes the token", name)
			}
		}

		list, err := ks.List(ctx)
		if err != nil || len(list) != 2 || list[0].ID != k1.ID || list[1].ID != k2.ID ||
			!list[1].Has(apikey.ScopeAdmin) || !list[1].Has(apikey.ScopeLicenseToken) || list[1].Has(apikey.ScopeSPEKE) {
			t.Fatalf("List: %+v %v", list, err)
		}
		if list[0].LastUsedAt.IsZero() {
			t.Fatal("last_used_at not stored")
		}

		// Revocation takes effect at once; revoking again is a no-op.
		if err := ks.Revoke(ctx, k1.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := ks.Authenticate(ctx, speke, apikey.ScopeSPEKE); !errors.Is(err, apikey.ErrUnauthenticated) {
			t.Fatalf("revoked: %v", err)
		}
		if err := ks.Revoke(ctx, k1.ID); err != nil {
			t.Fatalf("second revoke: %v", err)
		}
		if err := ks.Revoke(ctx, "ffffffffffffffff"); !errors.Is(err, apikey.ErrNotFound) {
			t.Fatalf("revoke unknown: %v", err)
		}
		list, _ = ks.List(ctx)
		if !list[0].Revoked() || list[1].Revoked() {
			t.Fatalf("after revoke: %+v", list)
		}
		// Another store on the same database (another process) agrees.
		ks2 := f.reopen(t, f.kms).APIKeys()
		if _, err := ks2.Authenticate(ctx, admin, apikey.ScopeAdmin); err != nil {
			t.Fatal(err)
		}
		if _, err := ks2.Authenticate(ctx, speke, apikey.ScopeSPEKE); !errors.Is(err, apikey.ErrUnauthenticated) {
			t.Fatalf("revoked, other store: %v", err)
		}

		for _, c := range []struct {
			name   string
			scopes []apikey.Scope
		}{{"", []apikey.Scope{apikey.ScopeAdmin}}, {"x", nil}, {"x", []apikey.Scope{9}}, {"a\nb", []apikey.Scope{apikey.ScopeAdmin}}, {strings.Repeat("n", 129), []apikey.Scope{apikey.ScopeAdmin}}} {
			if _, _, err := ks.Create(ctx, c.name, c.scopes); err == nil {
				t.Errorf("Create(%q, %v) succeeded", c.name, c.scopes)
			}
		}
	})
}

// TestAPITokensStoredHashed greps the database files for the tokens: only
// the IDs and the SHA-256 of the secrets may be there.
func TestAPITokensStoredHashed(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		f := open(t, be)
		ks := f.store.APIKeys()
		var tokens []string
		var ids []string
		for i := range 20 {
			tok, k, err := ks.Create(ctx, "encoder-"+string(rune('a'+i)), []apikey.Scope{apikey.ScopeSPEKE})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ks.Authenticate(ctx, tok, apikey.ScopeSPEKE); err != nil {
				t.Fatal(err)
			}
			tokens, ids = append(tokens, tok), append(ids, k.ID)
		}
		if err := ks.Revoke(ctx, ids[3]); err != nil {
			t.Fatal(err)
		}
		blob := f.dbBytes(t)
		var forbidden, present [][]byte
		for i, tok := range tokens {
			secret := tokenRE.FindStringSubmatch(tok)[2]
			raw, err := base64.RawURLEncoding.DecodeString(secret)
			if err != nil {
				t.Fatal(err)
			}
			forbidden = append(forbidden, []byte(tok), []byte(secret), raw,
				[]byte(hex.EncodeToString(raw)), []byte(base64.StdEncoding.EncodeToString(raw)))
			h := sha256.Sum256(raw)
			present = append(present, []byte(ids[i]), []byte(hex.EncodeToString(h[:])))
		}
		if i, found := containsAny(blob, forbidden); found {
			t.Fatalf("token %d (form %d) found in the database files", i/5, i%5)
		}
		for i, p := range present {
			if _, found := containsAny(blob, [][]byte{p}); !found {
				t.Fatalf("stored form %d not found: the grep does not see the rows", i)
			}
		}
	})
}

func TestAuditLog(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
		entries := []apikey.Entry{
			{Actor: "cli:root", Action: "apikey.create", Target: "0123456789abcdef", At: t0, Detail: `{"scopes":["speke"]}`},
			{Actor: "apikey:aaaaaaaaaaaaaaaa", Action: "key.revoke", Target: "kid-1", At: t0.Add(time.Second), Detail: "compromised — rotated"},
			{Actor: "apikey:aaaaaaaaaaaaaaaa", Action: "apikey.revoke", Target: "0123456789abcdef", At: t0.Add(2 * time.Second)},
		}
		for _, e := range entries {
			if err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		before := time.Now()
		if err := s.Audit(ctx, apikey.Entry{Actor: "cli:root", Action: "keys.rewrap"}); err != nil {
			t.Fatal(err)
		}
		all, err := s.ListAudit(ctx, apikey.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 4 || all[0].Action != "keys.rewrap" || all[0].At.Before(before.Add(-time.Second)) {
			t.Fatalf("ListAudit: %+v", all)
		}
		for i, e := range entries { // newest first, round-tripped to the microsecond
			got := all[3-i]
			want := e
			want.At = e.At.Truncate(time.Microsecond)
			if got != want {
				t.Fatalf("entry %d: got %+v, want %+v", i, got, want)
			}
		}
		byTarget, err := s.ListAudit(ctx, apikey.AuditQuery{Target: "0123456789abcdef"})
		if err != nil || len(byTarget) != 2 || byTarget[0].Action != "apikey.revoke" {
			t.Fatalf("by target: %+v %v", byTarget, err)
		}
		byActor, err := s.ListAudit(ctx, apikey.AuditQuery{Actor: "apikey:aaaaaaaaaaaaaaaa", Since: t0.Add(1500 * time.Millisecond)})
		if err != nil || len(byActor) != 1 || byActor[0].Action != "apikey.revoke" {
			t.Fatalf("by actor since: %+v %v", byActor, err)
		}
		if one, err := s.ListAudit(ctx, apikey.AuditQuery{Limit: 1}); err != nil || len(one) != 1 {
			t.Fatalf("limit: %+v %v", one, err)
		}
		for _, bad := range []apikey.Entry{{Action: "x"}, {Actor: "x"}, {Actor: "x", Action: "y", Detail: strings.Repeat("d", apikey.MaxAuditDetail+1)}, {Actor: "x\x00", Action: "y"}} {
			if err := s.Audit(ctx, bad); !errors.Is(err, apikey.ErrInvalid) {
				t.Errorf("Audit(%q, %q): %v", bad.Actor, bad.Action, err)
			}
		}
	})
}

// revocationActions are the revocation service's typed audit actions
// (revocation.Actions).
var revocationActions = []string{"revoke.user", "revoke.device", "revoke.token", "revoke.kid"}

// TestRevocationAudit: AuditByAction with the revocation actions returns
// every revocation entry, oldest first, past ListAudit's limit; other
// actions (key.revoke, apikey.revoke, and one that merely starts with
// "revoke.") are not revocations of the license path.
func TestRevocationAudit(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		n := apikey.MaxAuditLimit + 5
		for i := range n {
			action := "revoke.user"
			if i%2 == 1 {
				action = "apikey.revoke"
			}
			e := apikey.Entry{Actor: "apikey:ops", Action: action, Target: fmt.Sprintf("user-%04d", i), At: t0.Add(time.Duration(i) * time.Second)}
			if err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Audit(ctx, apikey.Entry{Actor: "cli:root", Action: "revoke.kid", Target: "kid-1", At: t0.Add(-time.Hour), Detail: "leaked"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Audit(ctx, apikey.Entry{Actor: "cli:root", Action: "revoke.session", Target: "sess-1", At: t0.Add(-2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.AuditByAction(ctx, time.Time{}, revocationActions...)
		if err != nil {
			t.Fatal(err)
		}
		if want := (n+1)/2 + 1; len(got) != want {
			t.Fatalf("%d revocation entries, want %d", len(got), want)
		}
		if got[0].Action != "revoke.kid" || got[0].Target != "kid-1" || got[0].Detail != "leaked" || !got[0].At.Equal(t0.Add(-time.Hour)) {
			t.Errorf("oldest entry %+v", got[0])
		}
		for i, e := range got[1:] {
			if e.Action != "revoke.user" || e.Target != fmt.Sprintf("user-%04d", 2*i) {
				t.Fatalf("entry %d: %+v", i+1, e)
			}
		}
		// A re-sync asks only for the entries at or after a time.
		since, err := s.AuditByAction(ctx, t0.Add(time.Duration(n-5)*time.Second), revocationActions...)
		if err != nil {
			t.Fatal(err)
		}
		var targets, want []string
		for _, e := range since {
			targets = append(targets, e.Target)
		}
		for i := n - 5; i < n; i++ {
			if i%2 == 0 {
				want = append(want, fmt.Sprintf("user-%04d", i))
			}
		}
		if !slices.Equal(targets, want) {
			t.Errorf("revocations since entry %d: %v, want %v", n-5, targets, want)
		}
	})
}

// TestPruneAudit (issue 16, defect 7): the retention policy deletes access
// and refusal rows (apikey.PrunableActions) older than the cut-off, in
// bounded batches, and nothing else: revocations (the durable record
// replicas restore from) and admin actions stay however old.
func TestPruneAudit(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		cutoff := t0.Add(100 * time.Hour)
		add := func(action, target string, at time.Time) {
			t.Helper()
			if err := s.Audit(ctx, apikey.Entry{Actor: "broker:192.0.2.1", Action: action, Target: target, At: at}); err != nil {
				t.Fatal(err)
			}
		}
		const old = 250
		for i := range old {
			at := t0.Add(time.Duration(i) * time.Minute)
			add(apikey.ActionBrokerRefuse, "old-refuse", at)
			if i%5 == 0 {
				add(apikey.ActionBrokerFetch, "old-fetch", at)
			}
		}
		add("revoke.user", "alice", t0)
		add("revoke.kid", "kid-1", t0.Add(time.Hour))
		add("apikey.revoke", "0123456789abcdef", t0)
		add("broker.issue", "movie", t0)
		add(apikey.ActionBrokerRefuse, "new-refuse", cutoff)
		add(apikey.ActionBrokerFetch, "new-fetch", cutoff.Add(time.Hour))

		n, err := s.PruneAudit(ctx, cutoff, 40)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(old + old/5); n != want {
			t.Errorf("pruned %d rows, want %d", n, want)
		}
		all, err := s.ListAudit(ctx, apikey.AuditQuery{Limit: apikey.MaxAuditLimit})
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, e := range all {
			kept = append(kept, e.Action+" "+e.Target)
		}
		slices.Sort(kept)
		want := []string{"apikey.revoke 0123456789abcdef", "broker.fetch new-fetch", "broker.issue movie", "broker.refuse new-refuse", "revoke.kid kid-1", "revoke.user alice"}
		if !slices.Equal(kept, want) {
			t.Errorf("kept %v, want %v", kept, want)
		}
		if revs, err := s.AuditByAction(ctx, time.Time{}, "revoke.user", "revoke.device", "revoke.token", "revoke.kid"); err != nil || len(revs) != 2 {
			t.Errorf("revocations after pruning: %d, %v", len(revs), err)
		}
		if n, err := s.PruneAudit(ctx, cutoff, 40); err != nil || n != 0 {
			t.Errorf("second prune: %d, %v", n, err)
		}
	})
}

// TestAuditPruner: the periodic job of `drmpipe serve` prunes by itself,
// also rows that grow old while it runs, and stops on Close.
func TestAuditPruner(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		now := time.Now()
		for _, e := range []apikey.Entry{
			{Actor: "broker:192.0.2.1", Action: apikey.ActionBrokerRefuse, Target: "old", At: now.Add(-2 * time.Hour)},
			{Actor: "apikey:ops", Action: "revoke.user", Target: "alice", At: now.Add(-2 * time.Hour)},
			{Actor: "broker:192.0.2.1", Action: apikey.ActionBrokerFetch, Target: "recent", At: now},
		} {
			if err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		p := NewAuditPruner(s, time.Hour, 20*time.Millisecond, nil)
		p.Start()
		defer p.Close()
		targets := func() []string {
			list, err := s.ListAudit(ctx, apikey.AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range list {
				out = append(out, e.Target)
			}
			slices.Sort(out)
			return out
		}
		deadline := time.Now().Add(5 * time.Second)
		for !slices.Equal(targets(), []string{"alice", "recent"}) {
			if time.Now().After(deadline) {
				t.Fatalf("after pruning: %v, want [alice recent]", targets())
			}
			time.Sleep(10 * time.Millisecond)
		}
		// A row that is already past retention when written goes at the next round.
		if err := s.Audit(ctx, apikey.Entry{Actor: "broker:192.0.2.1", Action: apikey.ActionBrokerRefuse, Target: "later", At: now.Add(-3 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		for slices.Contains(targets(), "later") {
			if time.Now().After(deadline) {
				t.Fatal("the pruner stopped pruning")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
