package chaos

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSoak runs one replica on PostgreSQL and Redis at a fixed license rate
// for SOAK_DURATION (a short run by default; `make soak` runs 10 minutes),
// with a revocation every few seconds and admin key lookups every second.
// It reports errors and latency percentiles per tenth of the run, and the
// server's RSS, goroutines and open descriptors at the start and the end,
// which must stay flat (no leak).
func TestSoak(t *testing.T) {
	dur := durationEnv(t, "SOAK_DURATION", 8*time.Second)
	c := newCluster(t, 1, true)
	r := c.replicas[0]
	l := &load{c: c, rate: 100}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Warm up, then take the baseline.
	warm, warmCancel := context.WithTimeout(ctx, 2*time.Second)
	wl := &load{c: c, rate: 100}
	wl.run(warm)
	wl.wait()
	warmCancel()
	time.Sleep(500 * time.Millisecond)
	before := sample(t, r)

	start := time.Now()
	l.run(ctx)
	var revs, lookups, lookupErrs int
	tick := time.NewTicker(time.Second)
	rss := []int{before.rssKiB} // at the end of each tenth of the run
	objs := []int{before.heapObjects}
	for time.Since(start) < dur {
		<-tick.C
		if len(rss) < 10 && time.Since(start) >= time.Duration(len(rss))*dur/10 {
			u := sample(t, r)
			rss, objs = append(rss, u.rssKiB), append(objs, u.heapObjects)
		}
		if code := c.keyLookup(r); code != http.StatusOK {
			lookupErrs++
		}
		lookups++
		if int(time.Since(start)/time.Second)%3 == 0 {
			user := fmt.Sprintf("soak-revoked-%d", revs)
			l.addTarget(user)
			if s := c.revoke(r, user); s != http.StatusOK {
				t.Errorf("revocation %d: status %d", revs, s)
			}
			revs++
		}
	}
	tick.Stop()
	cancel()
	l.wait()
	time.Sleep(time.Second) // idle keep-alives and request goroutines settle
	client.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	after := sample(t, r)

	results := l.snapshot()
	var b strings.Builder
	fmt.Fprintf(&b, "soak %v: %d license requests, %d revocations, %d key lookups (%d failed)\n", dur, len(results), revs, lookups, lookupErrs)
	fmt.Fprintf(&b, "%-10s %8s %7s %9s %9s %9s %9s %12s\n", "interval", "requests", "errors", "p50", "p99", "p99.9", "RSS MiB", "heap objects")
	slot := dur / 10
	errs := 0
	for i := range 10 {
		from, to := start.Add(time.Duration(i)*slot), start.Add(time.Duration(i+1)*slot)
		var lat []time.Duration
		e := 0
		for _, res := range results {
			if res.start.Before(from) || !res.start.Before(to) {
				continue
			}
			lat = append(lat, res.latency)
			ok := res.status == http.StatusOK || (strings.HasPrefix(res.user, "soak-revoked-") && res.status == http.StatusForbidden)
			if !ok {
				e++
			}
		}
		errs += e
		mib, obj := "-", "-"
		if i < len(rss) {
			mib, obj = strconv.Itoa(rss[i]/1024), strconv.Itoa(objs[i])
		}
		fmt.Fprintf(&b, "%-10s %8d %7d %9v %9v %9v %9s %12s\n", fmt.Sprintf("+%v", (time.Duration(i)*slot).Round(100*time.Millisecond)), len(lat), e, pct(lat, 50), pct(lat, 99), pct(lat, 99.9), mib, obj)
	}
	fmt.Fprintf(&b, "server: RSS %d -> %d KiB, goroutines %d -> %d, open fds %d -> %d\n",
		before.rssKiB, after.rssKiB, before.goroutines, after.goroutines, before.fds, after.fds)
	t.Log(b.String())

	if errs > 0 || lookupErrs > 0 {
		t.Errorf("%d license errors and %d key lookup errors during the soak", errs, lookupErrs)
	}
	// Flat: a leak of a goroutine or descriptor per request would show
	// thousands here; a few come and go with connections.
	if after.goroutines > before.goroutines+25 {
		t.Errorf("goroutines grew from %d to %d", before.goroutines, after.goroutines)
	}
	if after.fds > before.fds+25 {
		t.Errorf("open descriptors grew from %d to %d", before.fds, after.fds)
	}
	// Memory: caches fill up during the first half (license cache, the
	// verified-token cache, the replay mirror), so the check is that the
	// second half grows much less than the first, not that RSS is flat
	// from the start.
	if mid := rss[len(rss)/2]; after.rssKiB-mid > max(16*1024, (mid-before.rssKiB)/2) {
		t.Errorf("RSS still growing: %d KiB at the start, %d at the middle, %d at the end", before.rssKiB, mid, after.rssKiB)
	}
}

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := int(float64(len(lat)) * p / 100)
	if i >= len(lat) {
		i = len(lat) - 1
	}
	return lat[i].Round(10 * time.Microsecond)
}

// usage is what a replica process holds.
type usage struct {
	rssKiB, goroutines, fds int
	heapObjects             int // go_memstats_heap_objects: live plus not yet swept
}

// sample reads r's RSS and open descriptors from /proc and its goroutine
// count from /metrics (go_goroutines).
func sample(t *testing.T, r *replica) usage {
	t.Helper()
	var u usage
	pid := r.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			u.rssKiB, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	u.fds = len(fds)
	resp, err := client.Get(r.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			u.goroutines, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_objects "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			u.heapObjects = int(f)
		}
	}
	if u.rssKiB == 0 || u.goroutines == 0 {
		t.Fatalf("could not read RSS (%d KiB) or goroutines (%d) of the replica", u.rssKiB, u.goroutines)
	}
	return u
}

// keyLookup lists the content's keys through the admin API.
func (c *cluster) keyLookup(r *replica) int {
	req, _ := http.NewRequest(http.MethodGet, r.url()+"/v1/admin/keys?contentId="+c.content, nil)
	req.Header.Set("Authorization", "Bearer "+c.adminKey)
	return statusOf(req)
}
