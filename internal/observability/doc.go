// Package observability is drmpipe's telemetry: structured JSON logs on
// log/slog with a redacting handler, OpenTelemetry tracing with W3C Trace
// Context propagation, and Prometheus metrics. Domain packages never import
// it (or any telemetry library): the composition root (internal/server)
// wraps their collaborators (KMS, key lookups, vendor transports, the
// authorizer, packager.SegmentObserver) and records through *Metrics.
package observability
