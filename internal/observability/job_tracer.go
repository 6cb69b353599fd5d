package observability

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// JobTracer implements jobs.RunObserver: a job.run span per run of a
// packaging job (job ID, attempt and content ID; never its broker URL,
// input or output locations) and the drmpipe_job_* metrics.
type JobTracer struct {
	tracer  trace.Tracer
	metrics *Metrics
}

// NewJobTracer traces with tp and counts into m.
func NewJobTracer(tp trace.TracerProvider, m *Metrics) *JobTracer {
	return &JobTracer{tracer: tp.Tracer("drmpipe/jobs"), metrics: m}
}

// StartJobRun starts the span of one run of job id (attempt 1 first) of
// contentID, which waited wait in the queue; the returned function ends it
// with the run's outcome (JobCompleted, JobRetry, JobFailed) and bytes.
// The error is marked on the span by its outcome alone: its text may name
// locations.
func (j *JobTracer) StartJobRun(ctx context.Context, id int64, contentID string, attempt int, wait time.Duration) (context.Context, func(outcome string, bytesRead, bytesWritten int64)) {
	j.metrics.ObserveJobStart(wait)
	ctx, span := j.tracer.Start(ctx, SpanJobRun, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(SafeAttributes(
		AttrJobID.Int64(id), AttrJobAttempt.Int(attempt), AttrContentID.String(contentID),
		AttrJobQueueWait.Float64(wait.Seconds()))...))
	start := time.Now()
	return ctx, func(outcome string, bytesRead, bytesWritten int64) {
		d := time.Since(start)
		j.metrics.ObserveJobRun(outcome, attempt, d, bytesRead, bytesWritten)
		span.SetAttributes(AttrOutcome.String(outcome), AttrBytesRead.Int64(bytesRead), AttrBytesWritten.Int64(bytesWritten))
		if outcome != JobCompleted {
			span.SetStatus(codes.Error, outcome)
		}
		span.End()
	}
}
