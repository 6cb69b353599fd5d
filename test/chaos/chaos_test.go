package chaos

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// fault is one injected failure: inject starts it and revokes a user on a
// replica while it lasts (returning when the revocation was acknowledged),
// heal ends it.
type fault struct {
	name   string
	inject func(t *testing.T, c *cluster, l *load, user string) (ack time.Time, by int)
	heal   func(t *testing.T, c *cluster)
	// down is the replica that cannot answer during the fault (-1: none);
	// requests to it are not counted as errors.
	down int
}

// revocation is one acknowledged revocation and the fault it was made in.
type revocation struct {
	fault, user string
	ack         time.Time
	by          int
}

// report is what a fault did to clients.
type report struct {
	fault            string
	requests, errors int
	errorWindow      time.Duration
	p99              time.Duration
	convergence      []time.Duration // per replica, for the fault's revocation
	wronglyGranted   int
}

// TestChaos: two replicas on PostgreSQL and Redis under a steady license
// load through Redis killed, Redis hung (SIGSTOP), PostgreSQL stopped and a
// replica SIGKILLed; each fault revokes a user. Asserted: the replica that
// acknowledged a revocation never grants that user again, every other
// replica stops within the re-sync bound, every revocation is listed and
// enforced everywhere at the end, and errors seen by clients of healthy
// replicas stay within a bounded window. The figures are logged.
func TestChaos(t *testing.T) {
	phase := durationEnv(t, "CHAOS_PHASE", 2*time.Second)
	c := newCluster(t, 2, true)
	l := &load{c: c, rate: 40}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.run(ctx)
	time.Sleep(phase) // baseline

	faults := []fault{
		{name: "redis killed", down: -1,
			inject: func(t *testing.T, c *cluster, l *load, user string) (time.Time, int) {
				c.rd.Stop()
				return revokeAcked(t, c, l, 0, user), 0
			},
			heal: func(t *testing.T, c *cluster) { c.rd.Start(t) }},
		{name: "redis hung (SIGSTOP)", down: -1,
			inject: func(t *testing.T, c *cluster, l *load, user string) (time.Time, int) {
				c.rd.Pause(t)
				return revokeAcked(t, c, l, 1, user), 1
			},
			heal: func(t *testing.T, c *cluster) { c.rd.Resume(t) }},
		{name: "postgres stopped", down: -1,
			inject: func(t *testing.T, c *cluster, l *load, user string) (time.Time, int) {
				c.pg.Stop()
				// The audit log cannot be written: the revocation must be
				// refused, not acknowledged and lost.
				if s := c.revoke(c.replicas[0], user); s == http.StatusOK || s == http.StatusAccepted {
					t.Errorf("revocation acknowledged (%d) with PostgreSQL down: nothing durable recorded it", s)
				}
				time.Sleep(phase)
				c.pg.Start(t)
				return revokeAcked(t, c, l, 0, user), 0
			},
			heal: func(*testing.T, *cluster) {}},
		{name: "replica B SIGKILLed", down: 1,
			inject: func(t *testing.T, c *cluster, l *load, user string) (time.Time, int) {
				c.replicas[1].kill()
				return revokeAcked(t, c, l, 0, user), 0
			},
			heal: func(t *testing.T, c *cluster) { c.replicas[1].start(t) }},
	}

	var revs []revocation
	var spans [][2]time.Time
	for i, f := range faults {
		user := fmt.Sprintf("revoked-%d", i)
		from := time.Now()
		ack, by := f.inject(t, c, l, user)
		revs = append(revs, revocation{fault: f.name, user: user, ack: ack, by: by})
		time.Sleep(phase)
		f.heal(t, c)
		// Recovered: every replica ready again before the next fault.
		deadline := time.Now().Add(30 * time.Second)
		for _, r := range c.replicas {
			for !r.ready() {
				if time.Now().After(deadline) {
					t.Fatalf("%s: replica on port %d not ready 30s after healing", f.name, r.port)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		time.Sleep(phase)
		spans = append(spans, [2]time.Time{from, time.Now()})
	}
	cancel()
	l.wait()
	results := l.snapshot()

	// Every acknowledged revocation is listed and enforced by every
	// replica at the end: none was lost.
	for _, rv := range revs {
		for i, r := range c.replicas {
			if !c.listsRevocation(r, rv.user) {
				t.Errorf("%s: replica %d does not list the revocation of %s", rv.fault, i, rv.user)
			}
			if s := c.license(r, rv.user); s != http.StatusForbidden {
				t.Errorf("%s: replica %d answers %d for revoked %s at the end, want 403", rv.fault, i, s, rv.user)
			}
		}
	}

	// Bound on how long a replica that did not take the revocation may
	// still grant: the re-sync period, a request's timeout and slack.
	bound := resync + client.Timeout + time.Second
	var reports []report
	for i, f := range faults {
		rep := analyse(results, f, spans[i], revs[i], len(c.replicas))
		reports = append(reports, rep)
		if rep.wronglyGranted > 0 {
			t.Errorf("%s: replica %d (which acknowledged the revocation of %s) granted %d license(s) after it", f.name, revs[i].by, revs[i].user, rep.wronglyGranted)
		}
		for ri, conv := range rep.convergence {
			if conv > bound {
				t.Errorf("%s: replica %d granted %s a license %v after the revocation was acknowledged (bound %v)", f.name, ri, revs[i].user, conv, bound)
			}
		}
		if limit := phase + 5*time.Second; rep.errorWindow > limit {
			t.Errorf("%s: clients of healthy replicas saw errors over %v (bound %v)", f.name, rep.errorWindow, limit)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "chaos (phase %v, %d license requests):\n", phase, len(results))
	fmt.Fprintf(&b, "%-22s %8s %7s %13s %9s  %s\n", "fault", "requests", "errors", "error window", "p99", "revocation enforced after (per replica)")
	for _, r := range reports {
		var conv []string
		for _, d := range r.convergence {
			conv = append(conv, d.Round(time.Millisecond).String())
		}
		fmt.Fprintf(&b, "%-22s %8d %7d %13v %9v  %s\n", r.fault, r.requests, r.errors, r.errorWindow.Round(time.Millisecond), r.p99.Round(time.Millisecond), strings.Join(conv, " / "))
	}
	t.Log(b.String())
}

// revokeAcked revokes user on replica ri until it is acknowledged (200 or
// 202), adds it to the load's targets first so grants before and after are
// seen, and returns the acknowledgement time.
func revokeAcked(t *testing.T, c *cluster, l *load, ri int, user string) time.Time {
	t.Helper()
	l.addTarget(user)
	time.Sleep(200 * time.Millisecond) // the target is asked for before the revocation too
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := c.revoke(c.replicas[ri], user)
		if s == http.StatusOK || s == http.StatusAccepted {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("revocation of %s on replica %d not acknowledged within 30s (last status %d)", user, ri, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// analyse summarises the requests of one fault's span.
func analyse(results []result, f fault, span [2]time.Time, rv revocation, replicas int) report {
	rep := report{fault: f.name, convergence: make([]time.Duration, replicas)}
	var lat []time.Duration
	var firstErr, lastErr time.Time
	for _, r := range results {
		if r.user == rv.user && r.status == http.StatusOK && r.start.After(rv.ack) {
			// A grant for a request sent after the acknowledgement.
			if r.replica == rv.by {
				rep.wronglyGranted++
			}
			if d := r.start.Sub(rv.ack); d > rep.convergence[r.replica] {
				rep.convergence[r.replica] = d
			}
		}
		if r.start.Before(span[0]) || r.start.After(span[1]) || strings.HasPrefix(r.user, "revoked-") || r.replica == f.down {
			continue
		}
		rep.requests++
		lat = append(lat, r.latency)
		if r.status != http.StatusOK {
			rep.errors++
			if firstErr.IsZero() {
				firstErr = r.start
			}
			lastErr = r.start.Add(r.latency)
		}
	}
	if !firstErr.IsZero() {
		rep.errorWindow = lastErr.Sub(firstErr)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		rep.p99 = lat[len(lat)*99/100]
	}
	return rep
}
