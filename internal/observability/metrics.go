package observability

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every drmpipe metric name.
const Namespace = "drmpipe"

// Metric family names, as exposed on /metrics (histograms add _bucket,
// _sum and _count). The Grafana dashboard in deploy/ queries these.
const (
	MetricLicenseRequests    = "drmpipe_license_requests_total"
	MetricLicenseDuration    = "drmpipe_license_request_duration_seconds"
	MetricLicenseErrors      = "drmpipe_license_errors_total"
	MetricLicenseCacheHits   = "drmpipe_license_cache_hits_total"
	MetricLicenseCacheMisses = "drmpipe_license_cache_misses_total"
	MetricUpstreamDuration   = "drmpipe_license_upstream_duration_seconds"
	MetricBreakerState       = "drmpipe_upstream_breaker_state"
	MetricEntitlementDenials = "drmpipe_entitlement_denials_total"
	MetricRevocations        = "drmpipe_revocations_total"
	MetricKeysRequests       = "drmpipe_keys_requests_total"
	MetricKeysDuration       = "drmpipe_keys_request_duration_seconds"
	MetricSPEKERequests      = "drmpipe_speke_requests_total"
	MetricSPEKEDuration      = "drmpipe_speke_request_duration_seconds"
	MetricKMSDuration        = "drmpipe_kms_call_duration_seconds"
	MetricKMSErrors          = "drmpipe_kms_errors_total"
	MetricPackageBytesIn     = "drmpipe_package_bytes_in_total"
	MetricPackageBytesOut    = "drmpipe_package_bytes_out_total"
	MetricPackageSegments    = "drmpipe_package_segments_total"
	MetricPackageJobDuration = "drmpipe_package_job_duration_seconds"
	MetricPackageJobs        = "drmpipe_package_jobs_total"
	MetricConnectionsDropped = "drmpipe_connections_dropped_total"
	MetricConnectionsOpen    = "drmpipe_connections_open"
	MetricRedisBreakerState  = "drmpipe_redis_breaker_state"
	MetricLivePublish        = "drmpipe_live_publish_latency_seconds"
	MetricJobQueueWait       = "drmpipe_job_queue_wait_seconds"
	MetricJobRunDuration     = "drmpipe_job_run_duration_seconds"
	MetricJobRuns            = "drmpipe_job_runs_total"
	MetricJobAttempts        = "drmpipe_job_attempts"
	MetricJobBytesRead       = "drmpipe_job_bytes_read_total"
	MetricJobBytesWritten    = "drmpipe_job_bytes_written_total"
)

// LatencyBuckets (seconds) are shared by the request latency histograms:
// dense around the 250 ms license SLO (p99.9 < 250 ms) so that quantiles
// near it are precise, from 1 ms to 5 s.
var LatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1, 2.5, 5}

// JobBuckets (seconds) are for packaging job durations, 1 s to about 1 h.
var JobBuckets = []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600}

// QueueWaitBuckets (seconds) are for the wait of a packaging job in the
// queue, from when it may run (submit, or its retry's time) to its start:
// 5 ms (an idle worker) to an hour (a backlog).
var QueueWaitBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// AttemptBuckets are for the attempts a packaging job took.
var AttemptBuckets = []float64{1, 2, 3, 4, 5, 10, 25, 100}

// Outcome values with a fixed meaning in metrics: everything else counts as
// an error in drmpipe_license_errors_total.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied" // entitlement said no: not an error of the service
)

// Breaker states as the gauge values of drmpipe_upstream_breaker_state.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// Metrics holds drmpipe's Prometheus collectors. Its methods are safe for
// concurrent use and never panic, whatever label values they get (labels
// are sanitised).
type Metrics struct {
	licenseRequests *prometheus.CounterVec
	licenseDuration *prometheus.HistogramVec
	licenseErrors   *prometheus.CounterVec
	cacheHits       *prometheus.CounterVec
	cacheMisses     *prometheus.CounterVec
	upstreamDur     *prometheus.HistogramVec
	breakerState    *prometheus.GaugeVec
	denials         *prometheus.CounterVec
	revocations     *prometheus.CounterVec
	keysRequests    *prometheus.CounterVec
	keysDuration    *prometheus.HistogramVec
	spekeRequests   *prometheus.CounterVec
	spekeDuration   *prometheus.HistogramVec
	kmsDuration     *prometheus.HistogramVec
	kmsErrors       *prometheus.CounterVec
	pkgBytesIn      prometheus.Counter
	pkgBytesOut     prometheus.Counter
	pkgSegments     *prometheus.CounterVec
	pkgJobDuration  *prometheus.HistogramVec
	pkgJobs         *prometheus.CounterVec
	connsDropped    *prometheus.CounterVec
	connsOpen       prometheus.Gauge
	redisBreaker    prometheus.Gauge
	livePublish     prometheus.Histogram
	jobQueueWait    prometheus.Histogram
	jobRunDuration  *prometheus.HistogramVec
	jobRuns         *prometheus.CounterVec
	jobAttempts     *prometheus.HistogramVec
	jobBytesRead    prometheus.Counter
	jobBytesWritten prometheus.Counter
}

// NewMetrics creates the collectors and registers them, with the Go
// runtime and process collectors, on reg. A nil reg leaves them
// unregistered. Collectors already registered on reg (a second NewMetrics
// on the same registry) are reused, so both instances count into the same
// series.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lat := func(name, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: LatencyBuckets}, labels)
	}
	cnt := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		licenseRequests: cnt(MetricLicenseRequests, "License requests by DRM, vendor and outcome.", "drm", "vendor", "outcome"),
		licenseDuration: lat(MetricLicenseDuration, "License request latency in seconds, from request to response (SLO: p99.9 < 250 ms).", "drm", "vendor", "outcome"),
		licenseErrors:   cnt(MetricLicenseErrors, "License requests that failed (outcome other than ok or denied).", "drm", "vendor", "outcome"),
		cacheHits:       cnt(MetricLicenseCacheHits, "License requests answered from the license cache.", "drm"),
		cacheMisses:     cnt(MetricLicenseCacheMisses, "License requests not found in the license cache.", "drm"),
		upstreamDur:     lat(MetricUpstreamDuration, "Latency of calls to DRM vendor upstreams in seconds.", "drm", "vendor", "outcome"),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricBreakerState,
			Help: "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open."}, []string{"upstream"}),
		denials:       cnt(MetricEntitlementDenials, "Entitlement denials by reason.", "reason"),
		revocations:   cnt(MetricRevocations, "Revocations recorded, by kind (user, device, token, kid).", "kind"),
		keysRequests:  cnt(MetricKeysRequests, "Key store requests by operation and outcome.", "op", "outcome"),
		keysDuration:  lat(MetricKeysDuration, "Key store request latency in seconds.", "op"),
		spekeRequests: cnt(MetricSPEKERequests, "SPEKE requests by version and outcome.", "version", "outcome"),
		spekeDuration: lat(MetricSPEKEDuration, "SPEKE request latency in seconds.", "version"),
		kmsDuration:   lat(MetricKMSDuration, "KMS call latency in seconds by backend and operation.", "backend", "op"),
		kmsErrors:     cnt(MetricKMSErrors, "Failed KMS calls by backend and operation.", "backend", "op"),
		pkgBytesIn:    prometheus.NewCounter(prometheus.CounterOpts{Name: MetricPackageBytesIn, Help: "Media bytes read by the packager."}),
		pkgBytesOut:   prometheus.NewCounter(prometheus.CounterOpts{Name: MetricPackageBytesOut, Help: "Segment and manifest bytes written by the packager."}),
		pkgSegments:   cnt(MetricPackageSegments, "Segments written by track type.", "track_type"),
		pkgJobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricPackageJobDuration,
			Help: "Packaging job duration in seconds.", Buckets: JobBuckets}, []string{"outcome"}),
		pkgJobs: cnt(MetricPackageJobs, "Packaging jobs by outcome.", "outcome"),
		connsDropped: cnt(MetricConnectionsDropped,
			"Client connections the server closed to protect itself: refused at the global or per-address limit, or idle keep-alives shed under pressure.", "reason"),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricConnectionsOpen, Help: "Client connections open on the server's listener."}),
		redisBreaker: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricRedisBreakerState,
			Help: "Circuit breaker in front of Redis: 0 closed, 1 half-open, 2 open (commands fail at once; licenses use this replica's fallback)."}),
		livePublish: prometheus.NewHistogram(prometheus.HistogramOpts{Name: MetricLivePublish, Buckets: LatencyBuckets,
			Help: "Live channels: seconds from the arrival of a segment's last ingested byte to the write of the manifests that list it."}),
		jobQueueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: MetricJobQueueWait, Buckets: QueueWaitBuckets,
			Help: "Packaging jobs: seconds in the queue, from when a run may start (submit, or its retry time) to its start."}),
		jobRunDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricJobRunDuration, Buckets: JobBuckets,
			Help: "Packaging jobs: seconds of one run (attempt), by outcome (completed, retry, failed)."}, []string{"outcome"}),
		jobRuns: cnt(MetricJobRuns, "Packaging job runs (attempts) by outcome: completed, retry (another attempt follows), failed.", "outcome"),
		jobAttempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricJobAttempts, Buckets: AttemptBuckets,
			Help: "Packaging jobs that ended (completed or failed): the attempts each took."}, []string{"outcome"}),
		jobBytesRead:    prometheus.NewCounter(prometheus.CounterOpts{Name: MetricJobBytesRead, Help: "Packaging jobs: media bytes read from their inputs."}),
		jobBytesWritten: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricJobBytesWritten, Help: "Packaging jobs: segment bytes written to their outputs."}),
	}
	if reg == nil {
		return m
	}
	register(reg, &m.licenseRequests)
	register(reg, &m.licenseDuration)
	register(reg, &m.licenseErrors)
	register(reg, &m.cacheHits)
	register(reg, &m.cacheMisses)
	register(reg, &m.upstreamDur)
	register(reg, &m.breakerState)
	register(reg, &m.redisBreaker)
	register(reg, &m.denials)
	register(reg, &m.revocations)
	register(reg, &m.keysRequests)
	register(reg, &m.keysDuration)
	register(reg, &m.spekeRequests)
	register(reg, &m.spekeDuration)
	register(reg, &m.kmsDuration)
	register(reg, &m.kmsErrors)
	register(reg, &m.pkgBytesIn)
	register(reg, &m.pkgBytesOut)
	register(reg, &m.pkgSegments)
	register(reg, &m.pkgJobDuration)
	register(reg, &m.pkgJobs)
	register(reg, &m.connsDropped)
	register(reg, &m.connsOpen)
	register(reg, &m.livePublish)
	register(reg, &m.jobQueueWait)
	register(reg, &m.jobRunDuration)
	register(reg, &m.jobRuns)
	register(reg, &m.jobAttempts)
	register(reg, &m.jobBytesRead)
	register(reg, &m.jobBytesWritten)
	var goc prometheus.Collector = collectors.NewGoCollector() //nolint:staticcheck // register takes a *prometheus.Collector
	register(reg, &goc)
	var proc prometheus.Collector = collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}) //nolint:staticcheck // as goc
	register(reg, &proc)
	return m
}

// register registers *c on reg; when an identical collector is already
// registered it replaces *c with the existing one. Other registration
// errors (a conflicting family from someone else) leave *c unregistered:
// the metric keeps counting but is not exposed.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) {
	err := reg.Register(*c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
		}
	}
}

// Handler serves the metrics gathered by g in the Prometheus exposition
// format (for /metrics).
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// maxLabelLen bounds a label value; longer values are cut.
const maxLabelLen = 64

// label turns a caller's value into a safe, bounded label value: "unknown"
// for empty, "redacted" for anything that looks like a secret.
func label(v string) string {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "unknown"
	case LooksSecret(v):
		return "redacted"
	case len(v) > maxLabelLen:
		return v[:maxLabelLen]
	}
	return v
}

// ObserveLicense records one license request: its count, latency, error
// (when outcome is neither ok nor denied) and cache hit or miss.
func (m *Metrics) ObserveLicense(drm, vendor, outcome string, d time.Duration, cacheHit bool) {
	drm, vendor, outcome = label(drm), label(vendor), label(outcome)
	m.licenseRequests.WithLabelValues(drm, vendor, outcome).Inc()
	m.licenseDuration.WithLabelValues(drm, vendor, outcome).Observe(d.Seconds())
	if outcome != OutcomeOK && outcome != OutcomeDenied {
		m.licenseErrors.WithLabelValues(drm, vendor, outcome).Inc()
	}
	if cacheHit {
		m.cacheHits.WithLabelValues(drm).Inc()
	} else {
		m.cacheMisses.WithLabelValues(drm).Inc()
	}
}

// ObserveUpstream records one call to a vendor upstream (drm.vendorCall).
func (m *Metrics) ObserveUpstream(drm, vendor, outcome string, d time.Duration) {
	m.upstreamDur.WithLabelValues(label(drm), label(vendor), label(outcome)).Observe(d.Seconds())
}

// SetBreakerState records a circuit breaker state change for an upstream;
// state is "closed", "half-open" (or "half_open") or "open"; anything else
// is treated as open.
func (m *Metrics) SetBreakerState(upstream, state string) {
	m.breakerState.WithLabelValues(label(upstream)).Set(breakerValue(state))
}

// SetRedisBreakerState records the state of the circuit breaker in front
// of Redis, named as for SetBreakerState.
func (m *Metrics) SetRedisBreakerState(state string) { m.redisBreaker.Set(breakerValue(state)) }

func breakerValue(state string) float64 {
	switch strings.ToLower(state) {
	case "closed":
		return BreakerClosed
	case "half-open", "half_open", "halfopen":
		return BreakerHalfOpen
	}
	return BreakerOpen
}

// ObserveDenial counts an entitlement denial by its reason.
func (m *Metrics) ObserveDenial(reason string) {
	m.denials.WithLabelValues(label(reason)).Inc()
}

// ObserveRevocation counts a revocation by kind (user, device, token, kid).
func (m *Metrics) ObserveRevocation(kind string) {
	m.revocations.WithLabelValues(label(kind)).Inc()
}

// ObserveKeys records one key store operation (get, get_or_create, ...).
func (m *Metrics) ObserveKeys(op, outcome string, d time.Duration) {
	op = label(op)
	m.keysRequests.WithLabelValues(op, label(outcome)).Inc()
	m.keysDuration.WithLabelValues(op).Observe(d.Seconds())
}

// ObserveSPEKE records one SPEKE request (version "1.0" or "2.0").
func (m *Metrics) ObserveSPEKE(version, outcome string, d time.Duration) {
	version = label(version)
	m.spekeRequests.WithLabelValues(version, label(outcome)).Inc()
	m.spekeDuration.WithLabelValues(version).Observe(d.Seconds())
}

// ObserveKMS records one KMS call (op: wrap, unwrap, generate, ...) and
// counts it as an error when err is non-nil. err is not recorded.
func (m *Metrics) ObserveKMS(backend, op string, d time.Duration, err error) {
	backend, op = label(backend), label(op)
	m.kmsDuration.WithLabelValues(backend, op).Observe(d.Seconds())
	if err != nil {
		m.kmsErrors.WithLabelValues(backend, op).Inc()
	}
}

// ObserveSegment records one packaged segment of a track type and the
// bytes read for it and written.
func (m *Metrics) ObserveSegment(trackType string, bytesIn, bytesOut int64) {
	m.pkgSegments.WithLabelValues(label(trackType)).Inc()
	m.AddPackageBytes(bytesIn, bytesOut)
}

// AddPackageBytes adds to the packager's byte counters (negative values
// are ignored).
func (m *Metrics) AddPackageBytes(in, out int64) {
	if in > 0 {
		m.pkgBytesIn.Add(float64(in))
	}
	if out > 0 {
		m.pkgBytesOut.Add(float64(out))
	}
}

// ObservePackageJob records a finished packaging job.
func (m *Metrics) ObservePackageJob(outcome string, d time.Duration) {
	outcome = label(outcome)
	m.pkgJobs.WithLabelValues(outcome).Inc()
	m.pkgJobDuration.WithLabelValues(outcome).Observe(d.Seconds())
}

// ObserveLivePublish records one published live segment's latency from
// its last ingested byte to the manifests that list it.
func (m *Metrics) ObserveLivePublish(d time.Duration) { m.livePublish.Observe(d.Seconds()) }

// Outcomes of a packaging job run (drmpipe_job_runs_total and the job.run
// span).
const (
	JobCompleted = "completed"
	JobRetry     = "retry"
	JobFailed    = "failed"
)

// ObserveJobStart records the queue wait of a packaging job run as it
// starts.
func (m *Metrics) ObserveJobStart(wait time.Duration) { m.jobQueueWait.Observe(max(wait, 0).Seconds()) }

// ObserveJobRun records one ended run of a packaging job: its outcome
// (JobCompleted, JobRetry, JobFailed), run time and bytes, and the
// attempts a job took when it ended (completed or failed).
func (m *Metrics) ObserveJobRun(outcome string, attempt int, d time.Duration, bytesRead, bytesWritten int64) {
	outcome = label(outcome)
	m.jobRuns.WithLabelValues(outcome).Inc()
	m.jobRunDuration.WithLabelValues(outcome).Observe(d.Seconds())
	if outcome != JobRetry {
		m.jobAttempts.WithLabelValues(outcome).Observe(float64(attempt))
	}
	if bytesRead > 0 {
		m.jobBytesRead.Add(float64(bytesRead))
	}
	if bytesWritten > 0 {
		m.jobBytesWritten.Add(float64(bytesWritten))
	}
}

// ConnectionDropped counts a client connection the server's listener
// closed (reason: global_limit, per_ip_limit, idle_shed).
func (m *Metrics) ConnectionDropped(reason string) {
	m.connsDropped.WithLabelValues(label(reason)).Inc()
}

// ConnectionsOpen sets the number of open client connections.
func (m *Metrics) ConnectionsOpen(n int) { m.connsOpen.Set(float64(n)) }
