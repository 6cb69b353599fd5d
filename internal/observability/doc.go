// Package observability is drmpipe's telemetry: structured JSON logs on
// log/slog with a redacting handler, OpenTelemetry tracing with W3C Trace
// Context propagation, and Prometheus metrics. Domain packages never import
// it (or any telemetry library): this package decorates the collaborators
// they declare (KMSTracing, TracedKeys, VendorTransport, TracedAuthorizer,
// BreakerGauge, packager.SegmentObserver), the composition root
// (internal/server) puts the decorators in place, and they record through
// *Metrics.
package observability
