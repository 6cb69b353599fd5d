package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/jobs"
	"github.com/drmpipe/drmpipe/internal/observability"
)

func contextWithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

func newWorkerCmd(stdout, stderr io.Writer) *cobra.Command {
	var conf configFlags
	var concurrency int
	var drain time.Duration
	var metricsListen string
	cmd := &cobra.Command{
		Use:   "worker [--concurrency N] [--config FILE]",
		Short: "Run packaging jobs from the job queue (River on PostgreSQL, jobs.dsn)",
		Long: `Worker runs packaging jobs submitted to the jobs API (drmpipe jobs submit,
POST /v1/jobs), any number of workers on any number of machines against the
same PostgreSQL (jobs.dsn). It needs no key-store or KMS credentials nor the broker HMAC key: each
job's keys come from the key broker through a signed, expiring URL,
encrypted to a key pair the worker makes at start. With DRMPIPE_API_KEY (an
API key of scope worker) the worker asks the jobs API for a fresh URL,
bound to its key pair, when it starts a job, so jobs may wait in the queue
for any time; without it, it uses the URL signed at submit, valid for
keys.broker_url_ttl. s3:// inputs and
outputs use the standard AWS environment, as drmpipe package does.

On SIGTERM or SIGINT it stops taking jobs and lets the running ones finish for
up to --drain-timeout; then it cancels them and they go back to the queue.
A worker that dies (kill -9) leaves its job to River's rescuer
(jobs.rescue_after), which gives it to another worker.

With --metrics-listen ADDR it serves Prometheus metrics at
observability.metrics.path (default /metrics) on ADDR: the drmpipe_job_*
series of the jobs it runs (queue wait, run time, bytes, attempts,
outcome). Each run is a job.run span in the configured OpenTelemetry
exporter (observability.tracing).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := conf.load()
			if err != nil {
				return err
			}
			if err := cfg.Jobs.Validate("jobs"); err != nil {
				return err
			}
			if concurrency < 1 {
				return fmt.Errorf("--concurrency: %d: want 1 or more", concurrency)
			}
			log := observability.NewLogger(cfg.Observability.Log, stderr)
			tp, shutdown, err := observability.NewTracerProvider(cmd.Context(), cfg.Observability.Tracing)
			if err != nil {
				return fmt.Errorf("tracing: %w", err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = shutdown(ctx)
			}()
			reg := prometheus.NewRegistry()
			deps := jobs.WorkerDeps{Getenv: os.Getenv, Logger: log, Observer: observability.NewJobTracer(tp, observability.NewMetrics(reg))}
			if metricsListen != "" {
				ms, err := observability.ListenMetrics(metricsListen, cmp.Or(cfg.Observability.Metrics.Path, observability.DefaultMetricsPath), reg)
				if err != nil {
					return fmt.Errorf("--metrics-listen: %w", err)
				}
				defer ms.Close()
				fmt.Fprintf(stdout, "drmpipe worker metrics at http://%s%s\n", ms.Addr(), cmp.Or(cfg.Observability.Metrics.Path, observability.DefaultMetricsPath))
			}
			if k := os.Getenv("DRMPIPE_API_KEY"); k != "" {
				deps.Broker = jobs.APIBroker{APIKey: k}
			}
			w, err := jobs.NewWorker(deps)
			if err != nil {
				return err
			}
			q, err := jobs.Open(cmd.Context(), cfg.Jobs, jobs.QueueDeps{Workers: concurrency, Worker: w, Logger: log})
			if err != nil {
				return err
			}
			defer q.Close()
			if err := q.Start(context.WithoutCancel(cmd.Context())); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "drmpipe worker running %d job(s) at once\n", concurrency)
			<-cmd.Context().Done()
			fmt.Fprintln(stdout, "drmpipe worker draining")
			ctx, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			if err := q.Stop(ctx); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "drmpipe worker stopped")
			return nil
		},
	}
	conf.register(cmd.Flags())
	cmd.Flags().IntVar(&concurrency, "concurrency", 1, "jobs run at once")
	cmd.Flags().StringVar(&metricsListen, "metrics-listen", "", "serve Prometheus metrics on this address (host:port), e.g. 127.0.0.1:9464")
	cmd.Flags().DurationVar(&drain, "drain-timeout", time.Minute, "on SIGTERM, how long running jobs may finish before they are handed back")
	return cmd
}
