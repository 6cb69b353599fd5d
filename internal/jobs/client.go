package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/drmpipe/drmpipe/internal/apiclient"
	"github.com/drmpipe/drmpipe/internal/keys"
)

// Client is a client of the jobs API (drmpipe jobs).
type Client struct {
	// Server is the base URL of drmpipe serve.
	Server string
	// APIKey is an API key with scope package (worker for BrokerURL).
	APIKey string
	// HTTP is the client; nil = http.DefaultClient.
	HTTP *http.Client
}

// APIError is an error answer of the API ({code, message}).
type APIError = apiclient.Error

func (c *Client) do(ctx context.Context, method, path string, body any, header http.Header, out any) (int, error) {
	api := apiclient.Client{Name: "jobs API", Server: c.Server, APIKey: c.APIKey, HTTP: c.HTTP}
	return api.Do(ctx, method, path, body, header, out)
}

// Submit posts a job; idempotencyKey (may be empty) makes a retry return
// the same job (created false).
func (c *Client) Submit(ctx context.Context, req Request, idempotencyKey string) (job Job, created bool, err error) {
	h := http.Header{}
	if idempotencyKey != "" {
		h.Set("Idempotency-Key", idempotencyKey)
	}
	status, err := c.do(ctx, http.MethodPost, PathJobs, req, h, &job)
	return job, status == http.StatusCreated, err
}

// List returns up to limit jobs, newest first.
func (c *Client) List(ctx context.Context, limit int) ([]Job, error) {
	var out struct{ Jobs []Job }
	_, err := c.do(ctx, http.MethodGet, PathJobs+"?limit="+strconv.Itoa(limit), nil, nil, &out)
	return out.Jobs, err
}

// Get returns one job.
func (c *Client) Get(ctx context.Context, id int64) (Job, error) {
	var j Job
	_, err := c.do(ctx, http.MethodGet, PathJobs+"/"+strconv.FormatInt(id, 10), nil, nil, &j)
	return j, err
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id int64) (Job, error) {
	var j Job
	_, err := c.do(ctx, http.MethodPost, PathJobs+"/"+strconv.FormatInt(id, 10)+"/cancel", nil, nil, &j)
	return j, err
}

// Wait polls a job every interval until it has ended (Ended) or ctx ends;
// seen, when set, gets every answer whose state or progress changed.
func (c *Client) Wait(ctx context.Context, id int64, interval time.Duration, seen func(Job)) (Job, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last string
	for {
		j, err := c.Get(ctx, id)
		var ae *APIError
		// Transient answers (server restarting, database away) are waited
		// through; a refusal is not.
		if err != nil && (errors.As(err, &ae) && ae.Status < 500) {
			return j, err
		}
		if err == nil {
			if seen != nil {
				key := fmt.Sprintf("%s/%d/%v", j.State, j.Attempt, j.Progress)
				if key != last {
					seen(j)
					last = key
				}
			}
			if Ended(j.State) {
				return j, nil
			}
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-t.C:
		}
	}
}

// BrokerURL asks for a fresh broker URL for running job id, bound to the
// public key whose delivery.RecipientFingerprint is recipient (a worker,
// as the job starts), for the key periods under rotation (their media
// times in index order; nil without rotation).
func (c *Client) BrokerURL(ctx context.Context, id int64, recipient string, periods []keys.PeriodTimes) (string, error) {
	body := brokerURLRequest{Recipient: recipient, Periods: uint32(len(periods))}
	for _, p := range periods {
		body.PeriodTimes = append(body.PeriodTimes, periodTime{Start: int64(p.Start), End: int64(p.End)})
	}
	var a BrokerURLAnswer
	_, err := c.do(ctx, http.MethodPost, PathJobs+"/"+strconv.FormatInt(id, 10)+"/broker-url", body, nil, &a)
	return a.URL, err
}
