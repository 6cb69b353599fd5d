package observability

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// allFamilies are the drmpipe families NewMetrics registers.
var allFamilies = []string{
	MetricLicenseRequests, MetricLicenseDuration, MetricLicenseErrors, MetricLicenseCacheHits,
	MetricLicenseCacheMisses, MetricUpstreamDuration, MetricBreakerState, MetricEntitlementDenials,
	MetricRevocations, MetricKeysRequests, MetricKeysDuration, MetricSPEKERequests, MetricSPEKEDuration,
	MetricKMSDuration, MetricKMSErrors, MetricPackageBytesIn, MetricPackageBytesOut, MetricPackageSegments,
	MetricPackageJobDuration, MetricPackageJobs, MetricConnectionsDropped, MetricConnectionsOpen,
	MetricRedisBreakerState, MetricLivePublish, MetricJobQueueWait, MetricJobRunDuration, MetricJobRuns,
	MetricJobAttempts, MetricJobBytesRead, MetricJobBytesWritten,
}

func exercise(m *Metrics) {
	m.ObserveLicense("widevine", "axinom", OutcomeOK, 12*time.Millisecond, false)
	m.ObserveLicense("widevine", "axinom", OutcomeOK, 3*time.Millisecond, true)
	m.ObserveLicense("clearkey", "builtin", OutcomeDenied, time.Millisecond, false)
	m.ObserveLicense("playready", "ezdrm", "upstream_timeout", 2*time.Second, false)
	m.ObserveUpstream("playready", "ezdrm", "timeout", 2*time.Second)
	m.SetBreakerState("playready-primary", "open")
	m.SetBreakerState("widevine-primary", "closed")
	m.ObserveDenial("geo_blocked")
	m.ObserveRevocation("device")
	m.ObserveKeys("get_or_create", OutcomeOK, 4*time.Millisecond)
	m.ObserveSPEKE("2.0", OutcomeOK, 30*time.Millisecond)
	m.ObserveKMS("pkcs11", "unwrap", time.Millisecond, nil)
	m.ObserveKMS("pkcs11", "unwrap", time.Millisecond, errors.New("CKR_DEVICE_ERROR"))
	m.ObserveSegment("HD", 1000, 1100)
	m.AddPackageBytes(500, -1)
	m.ObservePackageJob(OutcomeOK, 90*time.Second)
	m.ConnectionDropped("per_ip_limit")
	m.ConnectionsOpen(12)
	m.SetRedisBreakerState("half-open")
	m.ObserveLivePublish(3 * time.Millisecond)
	m.ObserveJobStart(20 * time.Millisecond)
	m.ObserveJobRun(JobRetry, 1, 3*time.Second, 100, 0)
	m.ObserveJobRun(JobCompleted, 2, 5*time.Second, 1000, 1100)
}

func TestMetricsFamilies(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	exercise(m)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range append(allFamilies, "go_goroutines", "process_cpu_seconds_total") {
		if !got[name] {
			t.Errorf("family %s not gathered", name)
		}
	}

	checks := []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.licenseRequests.WithLabelValues("widevine", "axinom", "ok"), 2},
		{m.licenseErrors.WithLabelValues("playready", "ezdrm", "upstream_timeout"), 1},
		{m.cacheHits.WithLabelValues("widevine"), 1},
		{m.cacheMisses.WithLabelValues("widevine"), 1},
		{m.breakerState.WithLabelValues("playready-primary"), BreakerOpen},
		{m.breakerState.WithLabelValues("widevine-primary"), BreakerClosed},
		{m.denials.WithLabelValues("geo_blocked"), 1},
		{m.kmsErrors.WithLabelValues("pkcs11", "unwrap"), 1},
		{m.pkgBytesIn, 1500},
		{m.pkgBytesOut, 1100},
	}
	for i, c := range checks {
		if v := testutil.ToFloat64(c.c); v != c.want {
			t.Errorf("check %d: %v, want %v", i, v, c.want)
		}
	}
	// Denied is not an error: only the upstream timeout counted.
	if n := testutil.CollectAndCount(m.licenseErrors); n != 1 {
		t.Errorf("error series = %d, want 1", n)
	}
	// The 250 ms SLO is a bucket boundary, so "share under SLO" is exact.
	var has250 bool
	for _, b := range LatencyBuckets {
		has250 = has250 || b == 0.25
	}
	if !has250 || LatencyBuckets[0] != 0.001 || LatencyBuckets[len(LatencyBuckets)-1] != 5 {
		t.Errorf("buckets %v", LatencyBuckets)
	}
}

func TestMetricsLabelsAndReuse(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewMetrics(reg)
	b := NewMetrics(reg) // must not panic, shares the series
	a.ObserveDenial("revoked")
	b.ObserveDenial("revoked")
	if v := testutil.ToFloat64(a.denials.WithLabelValues("revoked")); v != 2 {
		t.Errorf("shared counter = %v", v)
	}
	// A secret passed as a label never becomes a series.
	jwt := fakeJWT(t)
	a.ObserveLicense(jwt, "", "ok", time.Millisecond, false)
	if v := testutil.ToFloat64(a.licenseRequests.WithLabelValues("redacted", "unknown", "ok")); v != 1 {
		t.Errorf("sanitised series = %v", v)
	}
	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if strings.Contains(string(body), jwt[:20]) || !strings.Contains(string(body), MetricLicenseRequests+`{drm="redacted"`) {
		t.Errorf("exposition:\n%s", body)
	}
	// Unregistered metrics still work.
	NewMetrics(nil).ObserveLicense("x", "y", "ok", 0, true)
}
