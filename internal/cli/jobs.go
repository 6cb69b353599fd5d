package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/jobs"
)

func newJobsCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &jobs.Client{}
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Submit, list, show, cancel and wait for packaging jobs on a drmpipe server (API key, scope package)",
		Long: `Jobs is a client of the jobs API of drmpipe serve: packaging runs on
workers (drmpipe worker, or drmpipe serve --workers N), which read s3:// inputs
and write s3:// outputs (or paths on the worker) with keys from the key store
that they fetch through the key broker.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&c.Server, "server", "http://127.0.0.1:8080", "drmpipe server URL")
	pf.StringVar(&c.APIKey, "api-key", os.Getenv("DRMPIPE_API_KEY"), "API key with scope package; env DRMPIPE_API_KEY")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if c.APIKey == "" {
			return fmt.Errorf("an API key with scope package is required: --api-key or DRMPIPE_API_KEY")
		}
		return nil
	}
	cmd.AddCommand(newJobsSubmitCmd(c, stdout), newJobsListCmd(c, stdout), newJobsShowCmd(c, stdout),
		newJobsCancelCmd(c, stdout), newJobsWaitCmd(c, stdout, stderr))
	return cmd
}

func newJobsSubmitCmd(c *jobs.Client, stdout io.Writer) *cobra.Command {
	var f packageFlags
	var idem string
	cmd := &cobra.Command{
		Use:   "submit --content-id ID -o s3://bucket/prefix [package flags] INPUT [...]",
		Short: "Submit a packaging job; prints its ID on the last line",
		Long: `Submit queues one packaging job with the options of drmpipe package that
workers carry out with keys from the key store (created now, under
--content-id). --idempotency-key makes a retried submit return the first job
instead of packaging twice. The job ID is the last line of the output.`,
		Example: `  drmpipe jobs submit --content-id t1 -o s3://vod/t1 --idempotency-key t1-v1 s3://mezzanine/t1.mp4
  drmpipe jobs wait "$(drmpipe jobs submit --content-id t1 -o s3://vod/t1 s3://mezzanine/t1.mp4 | tail -n1)"`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := jobs.Request{Inputs: args, Output: f.output, ContentID: f.contentID, Dual: f.dual, KeysPer: f.keysPer, IV: f.iv}
			fl := cmd.Flags()
			if fl.Changed("scheme") {
				req.Scheme = f.scheme
			}
			if f.drms != "" {
				req.DRMs = strings.Split(f.drms, ",")
			}
			if fl.Changed("segment-duration") {
				req.SegmentDuration = f.segmentDuration.String()
			}
			if fl.Changed("clear-lead") {
				req.ClearLead = f.clearLead.String()
			}
			if fl.Changed("key-period") {
				req.KeyPeriod = f.keyPeriod.String()
			}
			j, created, err := c.Submit(cmd.Context(), req, idem)
			if err != nil {
				return err
			}
			if !created {
				fmt.Fprintf(stdout, "job %d already submitted with this idempotency key (%s)\n", j.ID, j.State)
			} else {
				fmt.Fprintf(stdout, "submitted job %d: %s -> %s\n", j.ID, strings.Join(j.Request.Inputs, " "), j.Request.Output)
			}
			fmt.Fprintln(stdout, j.ID)
			return nil
		},
	}
	f.registerJobOptions(cmd.Flags())
	cmd.Flags().StringVar(&idem, "idempotency-key", "", "Idempotency-Key: a retried submit with the same key returns the first job")
	return cmd
}

func newJobsListCmd(c *jobs.Client, stdout io.Writer) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--limit N]",
		Short: "List jobs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := c.List(cmd.Context(), limit)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%-8s %-10s %-8s %-20s %s\n", "ID", "STATE", "ATTEMPT", "CREATED", "OUTPUT")
			for _, j := range list {
				fmt.Fprintf(stdout, "%-8d %-10s %d/%-6d %-20s %s\n", j.ID, j.State, j.Attempt, j.MaxAttempts,
					j.CreatedAt.UTC().Format(time.DateTime), j.Request.Output)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "most jobs listed (1..10000)")
	return cmd
}

func jobID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("job ID %q: want a positive number", s)
	}
	return id, nil
}

func printJob(w io.Writer, j jobs.Job) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

// newJobCallCmd is a jobs subcommand that makes one call of the jobs API
// on the job ID of its one argument and prints the job answered.
func newJobCallCmd(use, short string, call func(ctx context.Context, id int64) (jobs.Job, error), report func(jobs.Job) error) *cobra.Command {
	return newArgCmd(use, short, jobID, func(cmd *cobra.Command, id int64) error {
		j, err := call(cmd.Context(), id)
		if err != nil {
			return err
		}
		return report(j)
	})
}

func newJobsShowCmd(c *jobs.Client, stdout io.Writer) *cobra.Command {
	return newJobCallCmd("show ID", "Show a job as JSON: state, attempts, progress, errors, output summary", c.Get,
		func(j jobs.Job) error { return printJob(stdout, j) })
}

func newJobsCancelCmd(c *jobs.Client, stdout io.Writer) *cobra.Command {
	return newJobCallCmd("cancel ID", "Cancel a job: a queued one never runs, a running one is stopped", c.Cancel,
		func(j jobs.Job) error {
			fmt.Fprintf(stdout, "job %d: %s\n", j.ID, j.State)
			return nil
		})
}

func newJobsWaitCmd(c *jobs.Client, stdout, stderr io.Writer) *cobra.Command {
	var interval, timeout time.Duration
	cmd := newArgCmd("wait ID [--timeout D]", "Wait until a job ends; exit 0 only if it completed", jobID,
		func(cmd *cobra.Command, id int64) error {
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel func()
				ctx, cancel = contextWithTimeout(ctx, timeout)
				defer cancel()
			}
			j, err := c.Wait(ctx, id, interval, func(j jobs.Job) {
				line := fmt.Sprintf("job %d: %s (attempt %d/%d)", j.ID, j.State, j.Attempt, j.MaxAttempts)
				if j.Progress != nil && j.State == jobs.StateRunning {
					line += fmt.Sprintf(", %d segments, %.1f MB read", j.Progress.Segments, float64(j.Progress.BytesRead)/1e6)
				}
				fmt.Fprintln(stderr, line)
			})
			if err != nil {
				return fmt.Errorf("job %d: %w", id, err)
			}
			if j.State != jobs.StateCompleted {
				msg := ""
				if n := len(j.Errors); n > 0 {
					msg = ": " + j.Errors[n-1].Error
				}
				return fmt.Errorf("job %d %s%s", j.ID, j.State, msg)
			}
			if r := j.Result; r != nil {
				fmt.Fprintf(stdout, "job %d completed: %d track(s) into %s, %.1f MB read in %.2fs\n",
					j.ID, len(r.Tracks), r.Output, float64(r.InputBytes)/1e6, r.Seconds)
			} else {
				fmt.Fprintf(stdout, "job %d completed\n", j.ID)
			}
			return nil
		})
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often to ask")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (exit 1); 0 = never")
	return cmd
}
