package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// Issue 12, part 5: revocation is one domain service (internal/revocation)
// that the admin API and every CLI command use.

// TestKeysRevokeCLI: `drmpipe keys revoke KID` on the deployment's store
// records the revocation in the audit log like the admin API: a running
// server refuses the KID from its next re-sync on and lists the
// revocation, and a server started later restores it at startup.
func TestKeysRevokeCLI(t *testing.T) {
	t.Parallel()
	const period = 200 * time.Millisecond
	d := newDeployment(t, setup{Edit: func(m map[string]any) {
		m["policy"] = map[string]any{"revocations": map[string]any{"resync_interval": period.String()}}
	}})
	r := d.start(t)
	adminKey := r.apiKey(t, apikey.ScopeAdmin)
	c := r.content(t, "cli-revoke")
	checkLicense(t, userLicense(t, r, "olga", c), c.ContentKey)

	stdout, stderr, code := d.cli(t, "keys", "revoke", "--config", d.cfgFile, strings.ToUpper(c.KID.String()), "--reason", "leaked")
	if code != 0 || !strings.Contains(stdout, "revoked "+c.KID.String()) || !strings.Contains(stdout, "next re-sync") {
		t.Fatalf("drmpipe keys revoke: exit %d, stdout %q, stderr %q; want the canonical KID and when servers apply it", code, stdout, stderr)
	}
	start := time.Now()
	var last response
	if !eventually(2*period+time.Second, 20*time.Millisecond, func() bool {
		last = userLicense(t, r, "olga", c)
		return last.status == http.StatusForbidden
	}) {
		t.Fatalf("running server still serves the KID revoked by the CLI: %d %s", last.status, last.body)
	}
	requireRevoked(t, "running server after the CLI revocation", last)
	t.Logf("running server refused the KID %v after `drmpipe keys revoke`", time.Since(start).Round(time.Millisecond))

	audit, err := r.Keys.ListAudit(context.Background(), apikey.AuditQuery{Target: c.KID.String()})
	if err != nil {
		t.Fatal(err)
	}
	var recorded bool
	for _, e := range audit {
		recorded = recorded || (e.Action == "revoke.kid" && e.Actor == "cli" && e.Detail == "leaked")
	}
	if !recorded {
		t.Errorf("no audit entry of the CLI's KID revocation: %+v", audit)
	}
	listed := func(r *replica) bool {
		t.Helper()
		resp := do(t, http.MethodGet, r.url+"/v1/admin/revocations", nil, "Authorization", "Bearer "+adminKey)
		var list struct{ Revocations []entitlement.Revocation }
		if resp.status != http.StatusOK || json.Unmarshal(resp.body, &list) != nil {
			t.Fatalf("revocation list: %d %s", resp.status, resp.body)
		}
		for _, rev := range list.Revocations {
			if rev.Kind == entitlement.RevokeKID && rev.Value == c.KID.String() && rev.By == "cli" {
				return true
			}
		}
		return false
	}
	if !listed(r) {
		t.Error("the running server's revocation list lacks the CLI's KID revocation")
	}
	r2 := d.start(t)
	requireRevoked(t, "server started after the CLI revocation", userLicense(t, r2, "olga", c))
	if !listed(r2) {
		t.Error("the revocation list of a server started later lacks the CLI's KID revocation")
	}
}

// TestPurgeWebhookAtShutdown: a CDN purge webhook call still in flight
// when the server closes gets the shutdown grace, then is cancelled: the
// App's Close returns within the grace (plus slack) and the call has ended
// by then, so no goroutine of it outlives the server (TestMain checks).
func TestPurgeWebhookAtShutdown(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	ended := make(chan string, 1)
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the whole body lets the server notice the client going
		// away (net/http watches the connection only after the body).
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
			ended <- "cancelled"
		case <-release:
			ended <- "released by the test's end"
		case <-time.After(30 * time.Second):
			ended <- "finished after 30s"
		}
	}))
	t.Cleanup(func() { close(release); hook.Close() })
	const grace = 500 * time.Millisecond
	d := newDeployment(t, setup{Edit: func(m map[string]any) {
		m["server"].(map[string]any)["shutdown_grace"] = grace.String()
		m["license"].(map[string]any)["purge_webhooks"] = []string{hook.URL + "/purge"}
	}})
	r := d.start(t)
	r.revoke(t, r.apiKey(t, apikey.ScopeAdmin), "user", "slow-purge")
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the purge webhook was not called within 5s of the revocation")
	}

	start := time.Now()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.close(); err != nil {
		t.Fatalf("App.Close: %v", err)
	}
	took := time.Since(start)
	if took > grace+2*time.Second {
		t.Errorf("shutdown took %v with a webhook in flight, want about the grace %v", took, grace)
	}
	// The receiver sees the client's cancellation a moment after it.
	select {
	case how := <-ended:
		if how != "cancelled" {
			t.Errorf("webhook call %s, want cancelled at the end of the grace", how)
		}
	case <-time.After(time.Second):
		t.Fatal("the purge webhook call was still running a second after the server closed")
	}
	if logs := r.logs.Bytes(); !bytes.Contains(logs, []byte("CDN purge webhook calls still running at shutdown cancelled")) {
		t.Error("the cancelled webhook call is not logged")
	}
	t.Logf("shutdown with a webhook in flight took %v (grace %v)", took.Round(time.Millisecond), grace)
}

// TestRevokeCLIWhileRedisDown: `drmpipe revoke` takes the admin API's 202
// (recorded and applied on that replica, the others at their next
// re-sync; api/openapi.yaml: not to be retried) as the success it is, and
// says how far the revocation got.
func TestRevokeCLIWhileRedisDown(t *testing.T) {
	t.Parallel()
	rd := testtools.StartRedis(t)
	d := newDeployment(t, setup{Redis: rd.Addr})
	r := d.start(t)
	adminKey := r.apiKey(t, apikey.ScopeAdmin)
	c := r.content(t, "cli-revoke-outage")
	rd.Stop()
	stdout, stderr, code := d.cli(t, "revoke", "user", "quinn", "--server", r.url, "--api-key", adminKey)
	if code != 0 || !strings.Contains(stdout, "revoked user quinn at ") || !strings.Contains(stdout, "next re-sync") {
		t.Fatalf("drmpipe revoke with Redis down: exit %d, stdout %q, stderr %q; want success and when the other replicas apply it", code, stdout, stderr)
	}
	requireRevoked(t, "the replica that took the revocation", userLicense(t, r, "quinn", c))
}
