package jobs

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/media"
	"github.com/drmpipe/drmpipe/internal/packager"
	"github.com/drmpipe/drmpipe/internal/speke"
	"github.com/drmpipe/drmpipe/internal/storage"
)

// Worker runs package jobs. It holds no key-store or KMS credentials nor
// the broker HMAC key: each job's keys come from the key broker through a
// signed URL the jobs API gives it when the job starts, encrypted to a key
// pair the worker makes at start and never stores.
type Worker struct {
	river.WorkerDefaults[PackageArgs]
	priv   *rsa.PrivateKey
	fp     string
	broker BrokerURLs
	s3     func() (*storage.S3, error)
	log    *slog.Logger
	db     database // set by Open: progress updates
	runs   atomic.Int64
	beats  time.Duration
	obs    RunObserver
}

// RunObserver sees each run (attempt) of a package job: the job's ID,
// attempt (1 first), content ID and how long it waited in the queue (from
// when it could run: its submit, or its retry's time); the returned
// function gets the run's outcome (RunCompleted, RunRetry, RunFailed) and
// the bytes it read from its inputs and wrote as segments.
// observability.JobTracer implements it with metrics and a span.
type RunObserver interface {
	StartJobRun(ctx context.Context, id int64, contentID string, attempt int, wait time.Duration) (context.Context, func(outcome string, bytesRead, bytesWritten int64))
}

// Outcomes of a run, as RunObserver gets them.
const (
	RunCompleted = "completed"
	// RunRetry: the run failed and the job will run again.
	RunRetry = "retry"
	// RunFailed: the run failed and the job will not run again (bad input,
	// or its last attempt).
	RunFailed = "failed"
)

// WorkerDeps are a Worker's collaborators.
type WorkerDeps struct {
	// Getenv reads the standard AWS environment for s3:// locations
	// (storage.S3ConfigFromEnv); nil = no S3.
	Getenv func(string) string
	Logger *slog.Logger
	// Broker gives a fresh broker URL for each job as it starts; nil = the
	// URL signed at submit (valid keys.broker_url_ttl after the submit).
	Broker BrokerURLs
	// Observer sees each run (metrics, a span); nil = none.
	Observer RunObserver
}

// BrokerURLs gives the broker URL of a running job, bound to the worker's
// public key: the jobs API in this process (*API) or over HTTP
// (APIBroker).
type BrokerURLs interface {
	BrokerURL(ctx context.Context, id int64, base, recipient string, periods []keys.PeriodTimes) (string, error)
}

// BrokerURLFunc is a function as BrokerURLs.
type BrokerURLFunc func(ctx context.Context, id int64, base, recipient string, periods []keys.PeriodTimes) (string, error)

// BrokerURL calls f.
func (f BrokerURLFunc) BrokerURL(ctx context.Context, id int64, base, recipient string, periods []keys.PeriodTimes) (string, error) {
	return f(ctx, id, base, recipient, periods)
}

// APIBroker asks the jobs API that signed a job's first broker URL for a
// fresh one, with an API key of scope worker (drmpipe worker with
// DRMPIPE_API_KEY).
type APIBroker struct {
	APIKey string
	HTTP   *http.Client
}

// BrokerURL implements BrokerURLs through PathJobKeys at base.
func (b APIBroker) BrokerURL(ctx context.Context, id int64, base, recipient string, periods []keys.PeriodTimes) (string, error) {
	c := Client{Server: base, APIKey: b.APIKey, HTTP: b.HTTP}
	return c.BrokerURL(ctx, id, recipient, periods)
}

// NewWorker makes a worker and its broker recipient key (RSA 2048, CPIX
// 2.3 §"Content Key Encryption" with RSA-OAEP).
func NewWorker(deps WorkerDeps) (*Worker, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(spki)
	w := &Worker{priv: priv, fp: hex.EncodeToString(sum[:]), broker: deps.Broker, log: deps.Logger, beats: time.Second, obs: deps.Observer}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.s3 = sync.OnceValues(func() (*storage.S3, error) {
		if deps.Getenv == nil {
			return nil, fmt.Errorf("%w: no S3 environment", storage.ErrConfig)
		}
		return storage.NewS3(storage.S3ConfigFromEnv(deps.Getenv))
	})
	return w, nil
}

// Runs counts the attempts this worker started (tests, metrics).
func (w *Worker) Runs() int64 { return w.runs.Load() }

// Summary is what a completed job records as its output.
type Summary struct {
	Output     string         `json:"output"`
	InputBytes int64          `json:"inputBytes"`
	Seconds    float64        `json:"seconds"`
	Tracks     []TrackSummary `json:"tracks"`
	Uploaded   int            `json:"uploaded,omitempty"`
	Unchanged  int            `json:"unchanged,omitempty"`
}

// TrackSummary is one packaged track.
type TrackSummary struct {
	Name     string   `json:"name"`
	Codecs   string   `json:"codecs"`
	Segments int      `json:"segments"`
	KIDs     []string `json:"kids,omitempty"`
}

// Work packages one job. Errors that a retry cannot mend (bad options, a
// missing or non-MP4 input, a refused or expired broker URL, a refused
// bucket) fail the job at once; the others are retried with River's
// backoff.
func (w *Worker) Work(ctx context.Context, job *river.Job[PackageArgs]) error {
	w.runs.Add(1)
	start := time.Now()
	prog := &progress{}
	end := func(string, int64, int64) {}
	if w.obs != nil {
		ctx, end = w.obs.StartJobRun(ctx, job.ID, job.Args.Request.ContentID, job.Attempt, start.Sub(job.ScheduledAt))
	}
	err := w.work(ctx, job, start, prog)
	outcome := RunCompleted
	switch {
	case err != nil && permanent(err):
		outcome = RunFailed
	case err != nil && job.Attempt >= job.MaxAttempts:
		outcome = RunFailed
	case err != nil:
		outcome = RunRetry
	}
	end(outcome, prog.bytesIn.Load(), prog.bytesOut.Load())
	if err != nil && permanent(err) {
		w.log.Warn("package job failed", "job", job.ID, "attempt", job.Attempt, "error", err.Error())
		return river.JobCancel(err)
	}
	return err
}

func (w *Worker) work(ctx context.Context, job *river.Job[PackageArgs], start time.Time, prog *progress) error {
	a := job.Args
	cfg, err := a.Request.packagerConfig(a.Signaling)
	if err != nil {
		return err
	}
	if cfg.KeyPeriod > 0 {
		if w.broker == nil {
			return fmt.Errorf("%w: keyPeriod: a job with key rotation needs a worker that asks the jobs API for its keys (drmpipe worker with DRMPIPE_API_KEY)", ErrInvalid)
		}
		cfg.Keys = &rotationKeys{fetch: func(ctx context.Context, periods []keys.PeriodTimes) (*speke.CPIXPeriods, error) {
			resp, err := w.fetchKeys(ctx, job, periods)
			if err != nil {
				return nil, err
			}
			return speke.NewCPIXPeriods(resp)
		}}
	} else {
		resp, err := w.fetchKeys(ctx, job, nil)
		if err != nil {
			return err
		}
		if cfg.Keys, err = keys.NewStaticSource(resp.Keys); err != nil {
			return err
		}
	}
	var out *storage.S3Output
	if err := w.wireStorage(&cfg, &out); err != nil {
		return err
	}
	cfg.Observer = prog
	stop := w.reportProgress(job.ID, prog)
	res, err := packager.Package(ctx, cfg)
	stop()
	if err != nil {
		return err
	}
	// The packager's count of the input includes its headers and boxes,
	// beside the samples the segments counted.
	prog.bytesIn.Store(res.InputBytes)
	sum := Summary{Output: a.Request.Output, InputBytes: res.InputBytes, Seconds: time.Since(start).Seconds()}
	for _, t := range res.Tracks {
		sum.Tracks = append(sum.Tracks, TrackSummary{Name: t.Name, Codecs: t.Codecs, Segments: t.Segments, KIDs: t.KIDs})
	}
	if out != nil {
		st := out.Stats()
		sum.Uploaded, sum.Unchanged = st.Uploaded, st.Unchanged
	}
	return river.RecordOutput(ctx, sum)
}

// fetchKeys gets the job's keys (of the key periods under rotation) from
// the broker, decrypted with the worker's key.
func (w *Worker) fetchKeys(ctx context.Context, job *river.Job[PackageArgs], periods []keys.PeriodTimes) (speke.ClientResponse, error) {
	keysURL, err := w.keysURL(ctx, job, periods)
	if err != nil {
		return speke.ClientResponse{}, err
	}
	doc, err := delivery.FetchCPIX(ctx, keysURL, w.priv)
	if err != nil {
		return speke.ClientResponse{}, err
	}
	return speke.ParseCPIX(doc, "key broker answer", w.priv)
}

// keysURL is the broker URL of the job: a fresh one from w.broker, at the
// server that signed the submit's URL, else that URL itself.
func (w *Worker) keysURL(ctx context.Context, job *river.Job[PackageArgs], periods []keys.PeriodTimes) (string, error) {
	if w.broker == nil {
		return job.Args.KeysURL, nil
	}
	u, err := url.Parse(job.Args.KeysURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: the job's broker URL is malformed", ErrInvalid)
	}
	fresh, err := w.broker.BrokerURL(ctx, job.ID, u.Scheme+"://"+u.Host, w.fp, periods)
	if err != nil {
		return "", fmt.Errorf("broker URL for job %d: %w", job.ID, err)
	}
	return fresh, nil
}

// rotationKeys is the key source of a job with key rotation: told the key
// periods of the input (packager.KeyPeriodPlanner), it fetches all of them
// from the broker in one CPIX document at the first key asked for and
// gives them by period (speke.CPIXPeriods). The jobs API records their
// media times in the key store when it signs the broker URL for them.
type rotationKeys struct {
	fetch func(ctx context.Context, periods []keys.PeriodTimes) (*speke.CPIXPeriods, error)
	mu    sync.Mutex
	spans []cpix.Interval
	times []keys.PeriodTimes
	src   *speke.CPIXPeriods
}

func (k *rotationKeys) PlanKeyPeriods(periods []packager.KeyPeriodRange) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.spans = make([]cpix.Interval, len(periods))
	k.times = make([]keys.PeriodTimes, len(periods))
	for i, p := range periods {
		k.spans[i] = cpix.Interval{Start: p.Start, End: p.End}
		k.times[i] = keys.PeriodTimes{Period: uint32(i), Start: p.Start, End: p.End}
	}
}

func (k *rotationKeys) Key(ctx context.Context, t keys.TrackType) (keys.ContentKey, error) {
	return k.PeriodKey(ctx, t, 0)
}

func (k *rotationKeys) PeriodKey(ctx context.Context, t keys.TrackType, n uint32) (keys.ContentKey, error) {
	k.mu.Lock()
	src := k.src
	if src == nil {
		if len(k.spans) == 0 {
			k.mu.Unlock()
			return keys.ContentKey{}, fmt.Errorf("%w: key periods asked for before the packager planned them", keys.ErrNoKey)
		}
		var err error
		if src, err = k.fetch(ctx, k.times); err != nil {
			k.mu.Unlock()
			return keys.ContentKey{}, err
		}
		src.PlanKeyPeriods(k.spans)
		k.src = src
	}
	k.mu.Unlock()
	return src.PeriodKey(ctx, t, n)
}

// wireStorage points s3:// inputs and outputs at the S3 client.
func (w *Worker) wireStorage(cfg *packager.Config, out **storage.S3Output) error {
	used := storage.IsS3(cfg.OutputDir)
	for _, in := range cfg.Inputs {
		used = used || storage.IsS3(in)
	}
	if !used {
		return nil
	}
	client, err := w.s3()
	if err != nil {
		return err
	}
	cfg.Open = storage.Opener{S3: client}
	if storage.IsS3(cfg.OutputDir) {
		loc, err := storage.ParseS3(cfg.OutputDir)
		if err != nil {
			return fmt.Errorf("%w: output: %w", ErrInvalid, err)
		}
		cfg.Output = func(ctx context.Context) (storage.Output, error) {
			o, err := client.OpenOutput(ctx, loc)
			if err != nil {
				return nil, err
			}
			*out = o
			return o, nil
		}
	}
	return nil
}

// permanent reports errors a retry cannot mend.
func permanent(err error) bool {
	var fe *delivery.FetchError
	if errors.As(err, &fe) {
		return fe.Status != http.StatusTooManyRequests && fe.Status < 500
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status != http.StatusTooManyRequests && ae.Status < 500
	}
	for _, e := range []error{ErrInvalid, packager.ErrConfig, packager.ErrMedia, media.ErrNotMP4, media.ErrMalformed, media.ErrTruncated,
		media.ErrUnsupportedCodec, media.ErrNoSyncSample, media.ErrEncryptedInput, media.ErrNoTracks,
		storage.ErrConfig, storage.ErrNotFound, storage.ErrAccess, storage.ErrNotEmpty, storage.ErrOutputExists,
		delivery.ErrBrokerURL, speke.ErrResponse, keys.ErrNoKey, keys.ErrPeriodConflict} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// progress counts segments written and bytes read and written
// (SegmentObserver).
type progress struct {
	segments, bytesIn, bytesOut atomic.Int64
}

func (p *progress) StartSegment(context.Context, string, int) func(int64, int64, error) {
	return func(in, out int64, err error) {
		if err == nil {
			p.segments.Add(1)
			p.bytesIn.Add(in)
			p.bytesOut.Add(out)
		}
	}
}

// Progress is a running job's progress, in its River metadata.
type Progress struct {
	Segments  int64     `json:"segments"`
	BytesRead int64     `json:"bytesRead"`
	At        time.Time `json:"at"`
}

// reportProgress writes the counts into the job's metadata every second
// while it runs (River keeps no progress of its own); the returned
// function stops it.
func (w *Worker) reportProgress(id int64, p *progress) func() {
	if w.db == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(w.beats)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				b, _ := json.Marshal(Progress{Segments: p.segments.Load(), BytesRead: p.bytesIn.Load(), At: time.Now().UTC()})
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err := w.db.setProgress(ctx, id, b)
				cancel()
				if err != nil {
					w.log.Debug("job progress not recorded", "job", id, "error", err.Error())
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
