package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
)

// Scope is the API key scope of the jobs API.
const Scope = "package"

// WorkerScope is the API key scope of PathJobKeys: a worker's credential,
// which gets keys of running jobs (package gets none).
const WorkerScope = "worker"

// API paths.
const (
	PathJobs = "/v1/jobs"
	PathJob  = "/v1/jobs/{id}"
	// PathJobKeys is where a worker gets a fresh broker URL for the job it
	// runs (POST, scope worker).
	PathJobKeys = PathJob + "/broker-url"
)

// KeySource creates the job's keys on submit (the key store).
type KeySource interface {
	GetOrCreate(ctx context.Context, contentID string, t keys.TrackType, period uint32) (keys.ContentKey, error)
}

// Authenticator checks an API credential for a scope.
type Authenticator interface {
	Authenticate(r *http.Request, scope string) (principal string, err error)
}

// APIConfig configures the jobs API.
type APIConfig struct {
	// BrokerKey is the decoded keys.broker_hmac_key; nil = submit refused
	// (ErrNoBroker).
	BrokerKey []byte
	// BrokerTTL is the lifetime of a broker URL (keys.broker_url_ttl):
	// the one signed at submit, and the fresh one a worker gets when the
	// job starts (PathJobKeys), so a job may wait in the queue for longer.
	BrokerTTL time.Duration
	Signaling Signaling
}

// APIDeps are the jobs API's collaborators.
type APIDeps struct {
	Queue *Queue
	Keys  KeySource
	// Periods records the media time of a rotated job's key periods
	// (key_period_times) when its worker asks for their keys; nil = not
	// recorded.
	Periods keys.PeriodTimesStore
	Auth    Authenticator
	Log     *slog.Logger
	// Now is the clock of broker URL expiry; nil = time.Now.
	Now func() time.Time
}

// API serves the jobs endpoints.
type API struct {
	cfg  APIConfig
	deps APIDeps
}

// NewAPI returns the jobs API.
func NewAPI(cfg APIConfig, deps APIDeps) *API {
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &API{cfg: cfg, deps: deps}
}

// Route is one endpoint: "METHOD /pattern" and its handler.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Routes are the API's endpoints.
func (a *API) Routes() []Route {
	return []Route{
		{"POST " + PathJobs, http.HandlerFunc(a.submit)},
		{"GET " + PathJobs, http.HandlerFunc(a.list)},
		{"GET " + PathJob, http.HandlerFunc(a.show)},
		{"POST " + PathJob + "/cancel", http.HandlerFunc(a.cancel)},
		{"POST " + PathJobKeys, http.HandlerFunc(a.brokerURL)},
	}
}

// Job is a job as the API shows it.
type Job struct {
	ID          int64      `json:"id"`
	State       string     `json:"state"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"maxAttempts"`
	Request     Request    `json:"request"`
	CreatedAt   time.Time  `json:"createdAt"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	FinishedAt  *time.Time `json:"finishedAt,omitempty"`
	Progress    *Progress  `json:"progress,omitempty"`
	Errors      []JobError `json:"errors,omitempty"`
	Result      *Summary   `json:"result,omitempty"`
}

// JobError is the error of one attempt.
type JobError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

// Job states the API reports.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateRetrying  = "retrying"
	StateCompleted = "completed"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Ended reports whether a job in state s will not run again.
func Ended(s string) bool {
	return s == StateCompleted || s == StateFailed || s == StateCancelled
}

func viewOf(j *rivertype.JobRow) (Job, error) {
	var args PackageArgs
	if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
		return Job{}, err
	}
	v := Job{ID: j.ID, Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, Request: args.Request, CreatedAt: j.CreatedAt,
		StartedAt: j.AttemptedAt, FinishedAt: j.FinalizedAt}
	var meta struct {
		Progress  *Progress       `json:"progress"`
		Output    json.RawMessage `json:"output"`
		Cancelled *time.Time      `json:"cancel_attempted_at"`
	}
	_ = json.Unmarshal(j.Metadata, &meta)
	v.Progress = meta.Progress
	if len(meta.Output) > 0 {
		var s Summary
		if json.Unmarshal(meta.Output, &s) == nil {
			v.Result = &s
		}
	}
	for _, e := range j.Errors {
		v.Errors = append(v.Errors, JobError{Attempt: e.Attempt, At: e.At, Error: attemptError(e.Error)})
	}
	switch j.State {
	case rivertype.JobStateRunning:
		v.State = StateRunning
	case rivertype.JobStateRetryable:
		v.State = StateRetrying
	case rivertype.JobStateCompleted:
		v.State = StateCompleted
	case rivertype.JobStateDiscarded:
		v.State = StateFailed
	case rivertype.JobStateCancelled:
		// A worker's permanent error cancels the job without a cancel
		// request: that is a failure.
		v.State = StateFailed
		if meta.Cancelled != nil || len(j.Errors) == 0 {
			v.State = StateCancelled
		}
	default: // available, scheduled, pending
		v.State = StateQueued
	}
	return v, nil
}

// cancelPrefix is how River records an error the worker gave back with
// river.JobCancel (Worker.Work: errors no retry can mend).
const cancelPrefix = "JobCancelError: "

// attemptError is an attempt's error as the API shows it: the worker's
// own text, which names the input, output or field, without River's
// wrapper name.
func attemptError(s string) string { return strings.TrimPrefix(s, cancelPrefix) }

func (a *API) write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// onJob authenticates a request on one job for scope and parses the job ID
// of its path ({id}; a malformed one is not found). When either fails it
// has answered, and ok is false.
func (a *API) onJob(w http.ResponseWriter, r *http.Request, scope string) (who string, id int64, ok bool) {
	who, err := a.deps.Auth.Authenticate(r, scope)
	if err != nil {
		httperr.Write(w, r, a.deps.Log, err)
		return "", 0, false
	}
	id, err = strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		a.fail(w, r, fmt.Errorf("%w: job ID %q", ErrNotFound, r.PathValue("id")))
		return "", 0, false
	}
	return who, id, true
}

// writeJob answers with the view of row, or with err (from fetching row);
// location adds the job's URL (the answer to a submit).
func (a *API) writeJob(w http.ResponseWriter, r *http.Request, status int, location bool, row *rivertype.JobRow, err error) {
	var v Job
	if err == nil {
		v, err = viewOf(row)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if location {
		w.Header().Set("Location", PathJobs+"/"+strconv.FormatInt(v.ID, 10))
	}
	a.write(w, status, v)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httperr.Error
	switch {
	case errors.As(err, &he):
	case errors.Is(err, ErrInvalid):
		err = httperr.Wrap(err, http.StatusBadRequest, httperr.CodeInvalidRequest, err.Error())
	case errors.Is(err, ErrNotFound):
		err = httperr.Wrap(err, http.StatusNotFound, httperr.CodeNotFound, err.Error())
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNotRunning), errors.Is(err, keys.ErrPeriodConflict):
		err = httperr.Wrap(err, http.StatusConflict, httperr.CodeInvalidRequest, err.Error())
	case errors.Is(err, ErrNoBroker):
		err = httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, err.Error())
	default:
		err = httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "the job queue is unavailable")
	}
	httperr.Write(w, r, a.deps.Log, err)
}

// submit: POST /v1/jobs with a Request; Idempotency-Key makes a retried
// submit return the first job (200) instead of a second one (201).
func (a *API) submit(w http.ResponseWriter, r *http.Request) {
	who, err := a.deps.Auth.Authenticate(r, Scope)
	if err != nil {
		httperr.Write(w, r, a.deps.Log, err)
		return
	}
	if a.cfg.BrokerKey == nil {
		a.fail(w, r, ErrNoBroker)
		return
	}
	var req Request
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		a.fail(w, r, fmt.Errorf("%w: body: %w", ErrInvalid, err))
		return
	}
	if req, err = req.normalize(a.cfg.Signaling); err != nil {
		a.fail(w, r, err)
		return
	}
	per, _ := delivery.ParseKeysPer(req.KeysPer)
	// The keys exist before the job does, so a store outage fails the
	// submit, not the job. No transaction binds this to the enqueue, and
	// none is needed: get-or-create is idempotent per slot (a retried
	// submit finds these keys), and the broker gets or creates each slot
	// again when the job runs, so a job never depends on this step having
	// committed (README "Keys before the enqueue").
	for _, t := range per.TrackTypes() {
		if _, err := a.deps.Keys.GetOrCreate(r.Context(), req.ContentID, t, 0); err != nil {
			httperr.Write(w, r, a.deps.Log, delivery.StoreError(err))
			return
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u, err := a.sign(scheme+"://"+r.Host, req, "", 0)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	args := PackageArgs{Request: req, Signaling: a.cfg.Signaling, KeysURL: u}
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		if len(k) > 255 {
			a.fail(w, r, fmt.Errorf("%w: Idempotency-Key: longer than 255 characters", ErrInvalid))
			return
		}
		// One value per (principal, key), hashed: jsonb holds no NUL.
		sum := sha256.Sum256([]byte(who + "\x00" + k))
		args.Idempotency = hex.EncodeToString(sum[:])
	}
	row, dup, err := a.deps.Queue.submit(r.Context(), args)
	status := http.StatusCreated
	if dup {
		status = http.StatusOK
	}
	a.writeJob(w, r, status, true, row, err)
}

// list: GET /v1/jobs[?limit=N], newest first.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	if _, err := a.deps.Auth.Authenticate(r, Scope); err != nil {
		httperr.Write(w, r, a.deps.Log, err)
		return
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			a.fail(w, r, fmt.Errorf("%w: limit: want 1..10000", ErrInvalid))
			return
		}
		limit = n
	}
	rows, err := a.deps.Queue.list(r.Context(), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := struct {
		Jobs []Job `json:"jobs"`
	}{Jobs: []Job{}}
	for _, j := range rows {
		v, err := viewOf(j)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		out.Jobs = append(out.Jobs, v)
	}
	a.write(w, http.StatusOK, out)
}

func (a *API) job(w http.ResponseWriter, r *http.Request, op func(context.Context, int64) (*rivertype.JobRow, error)) {
	_, id, ok := a.onJob(w, r, Scope)
	if !ok {
		return
	}
	row, err := op(r.Context(), id)
	a.writeJob(w, r, http.StatusOK, false, row, err)
}

// show: GET /v1/jobs/{id}.
func (a *API) show(w http.ResponseWriter, r *http.Request) { a.job(w, r, a.deps.Queue.get) }

// cancel: POST /v1/jobs/{id}/cancel. A queued job never runs; a running
// one is told to stop (its output stays as the last complete run left it).
func (a *API) cancel(w http.ResponseWriter, r *http.Request) { a.job(w, r, a.deps.Queue.cancel) }

// sign returns a broker URL for the keys of req's content (key periods
// 0..periods-1 when periods > 0), valid for BrokerTTL from now and, when
// recipient is set, only for that public key.
func (a *API) sign(base string, req Request, recipient string, periods uint32) (string, error) {
	per, err := delivery.ParseKeysPer(req.KeysPer)
	if err != nil {
		return "", fmt.Errorf("%w: keysPer: %w", ErrInvalid, err)
	}
	return delivery.SignBrokerURL(a.cfg.BrokerKey, base, delivery.BrokerGrant{
		ContentID: req.ContentID, KeysPer: per, Recipient: recipient, Periods: periods,
		Expires: time.Unix(a.deps.Now().Add(a.cfg.BrokerTTL).Unix(), 0)})
}

// BrokerURL is a fresh broker URL for running job id, at base (the scheme
// and authority of the URL signed at submit), bound to recipient
// (delivery.RecipientFingerprint), for the key periods of a job with
// keyPeriod (periods: their media times in index order, as the worker
// plans them from its input; at most delivery.MaxBrokerPeriods), else for
// period 0 (periods nil). The periods' times are recorded in the key store
// first (key_period_times, as drmpipe package --key-period records them),
// so look-ahead licenses know what each period covers; times that
// contradict the record (another keyPeriod, other media) refuse the URL
// with keys.ErrPeriodConflict naming the period. Only a running job gets
// one: a worker asks when it starts the job, so a job may wait in the
// queue for longer than keys.broker_url_ttl. In-process workers (serve
// --workers) call it directly; others through PathJobKeys with their API
// key of scope worker.
func (a *API) BrokerURL(ctx context.Context, id int64, base, recipient string, periods []keys.PeriodTimes) (string, error) {
	if a.cfg.BrokerKey == nil {
		return "", ErrNoBroker
	}
	row, err := a.deps.Queue.get(ctx, id)
	if err != nil {
		return "", err
	}
	if row.State != rivertype.JobStateRunning {
		return "", fmt.Errorf("%w: job %d is %s, not running", ErrNotRunning, id, row.State)
	}
	var args PackageArgs
	if err := json.Unmarshal(row.EncodedArgs, &args); err != nil {
		return "", err
	}
	switch {
	case args.Request.KeyPeriod == "" && len(periods) > 0:
		return "", fmt.Errorf("%w: periods: job %d has no keyPeriod", ErrInvalid, id)
	case args.Request.KeyPeriod != "" && len(periods) == 0:
		return "", fmt.Errorf("%w: periods: job %d rotates keys (keyPeriod %s): name its key periods", ErrInvalid, id, args.Request.KeyPeriod)
	case len(periods) > delivery.MaxBrokerPeriods:
		return "", fmt.Errorf("%w: periods: %d key periods, at most %d (a longer keyPeriod)", ErrInvalid, len(periods), delivery.MaxBrokerPeriods)
	}
	for i, p := range periods {
		if p.Period != uint32(i) || p.WallClock || p.Start < 0 || p.End <= p.Start || i > 0 && p.Start < periods[i-1].End {
			return "", fmt.Errorf("%w: periodTimes[%d]: want period %d's media time, after period %d's, end after start", ErrInvalid, i, i, i-1)
		}
	}
	if len(periods) > 0 && a.deps.Periods != nil {
		if err := keys.RecordMediaPeriods(ctx, a.deps.Periods, args.Request.ContentID, periods); err != nil {
			return "", err
		}
	}
	return a.sign(base, args.Request, recipient, uint32(len(periods)))
}

// BrokerURLAnswer is the answer of PathJobKeys.
type BrokerURLAnswer struct {
	URL string `json:"url"`
}

// brokerURLRequest is the body of PathJobKeys.
type brokerURLRequest struct {
	Recipient string `json:"recipient"`
	// Periods is the number of key periods of a job with keyPeriod.
	Periods uint32 `json:"periods,omitempty"`
	// PeriodTimes are their media times, in index order (one per period).
	PeriodTimes []periodTime `json:"periodTimes,omitempty"`
}

// periodTime is one key period's media time in PathJobKeys' body:
// [start, end) in nanoseconds from the start of the content.
type periodTime struct {
	Start int64 `json:"startNs"`
	End   int64 `json:"endNs"`
}

// brokerURL: POST /v1/jobs/{id}/broker-url {recipient, periods} -> {url}: a broker
// URL for a running job's keys, signed now and bound to the worker's
// public key.
func (a *API) brokerURL(w http.ResponseWriter, r *http.Request) {
	who, id, ok := a.onJob(w, r, WorkerScope)
	if !ok {
		return
	}
	var body brokerURLRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Recipient == "" {
		a.fail(w, r, fmt.Errorf("%w: body: want {\"recipient\": the hex SHA-256 of the worker's SubjectPublicKeyInfo}", ErrInvalid))
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if body.Periods > delivery.MaxBrokerPeriods || len(body.PeriodTimes) != int(body.Periods) {
		a.fail(w, r, fmt.Errorf("%w: periodTimes: %d, want one per key period (periods %d, at most %d)", ErrInvalid, len(body.PeriodTimes), body.Periods, delivery.MaxBrokerPeriods))
		return
	}
	var periods []keys.PeriodTimes
	for i, p := range body.PeriodTimes {
		periods = append(periods, keys.PeriodTimes{Period: uint32(i), Start: time.Duration(p.Start), End: time.Duration(p.End)})
	}
	u, err := a.BrokerURL(r.Context(), id, scheme+"://"+r.Host, body.Recipient, periods)
	if errors.Is(err, delivery.ErrBrokerURL) {
		err = fmt.Errorf("%w: recipient: %w", ErrInvalid, err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.deps.Log.Debug("broker URL for a running job", "job", id, "principal", who)
	a.write(w, http.StatusOK, BrokerURLAnswer{URL: u})
}
