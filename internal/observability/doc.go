// Package observability is drmpipe's telemetry: structured JSON logs on
// log/slog with a redacting handler, OpenTelemetry tracing with W3C Trace
// Context propagation, and Prometheus metrics. Domain packages never import
// it (or any telemetry library): they declare small observer interfaces
// (see observers.go) that *Metrics implements, and the composition root
// hands them the implementation.
package observability
