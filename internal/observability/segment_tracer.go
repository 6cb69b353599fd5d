package observability

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// SegmentTracer implements packager.SegmentObserver: one package.segment
// span per written segment, and packaging byte/segment metrics when Metrics
// is set.
type SegmentTracer struct {
	Tracer  trace.Tracer
	Metrics *Metrics // may be nil
}

// NewSegmentTracer traces with tp.
func NewSegmentTracer(tp trace.TracerProvider, m *Metrics) *SegmentTracer {
	return &SegmentTracer{Tracer: tp.Tracer("drmpipe/packager"), Metrics: m}
}

// StartSegment starts the span of one segment of track.
func (s *SegmentTracer) StartSegment(ctx context.Context, track string, number int) func(bytesIn, bytesOut int64, err error) {
	_, span := s.Tracer.Start(ctx, SpanPackageSegment, trace.WithAttributes(attribute.String("track", track), attribute.Int("segment", number)))
	return func(in, out int64, err error) {
		span.SetAttributes(attribute.Int64("bytes.in", in), attribute.Int64("bytes.out", out))
		if err != nil {
			span.SetStatus(codes.Error, "segment failed")
		}
		span.End()
		if s.Metrics != nil && err == nil {
			s.Metrics.ObserveSegment(track, in, out)
			s.Metrics.AddPackageBytes(in, out)
		}
	}
}
