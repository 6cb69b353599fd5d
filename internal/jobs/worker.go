package jobs

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/media"
	"github.com/drmpipe/drmpipe/internal/packager"
	"github.com/drmpipe/drmpipe/internal/speke"
	"github.com/drmpipe/drmpipe/internal/storage"
)

// Worker runs package jobs. It holds no key-store or KMS credentials: each
// job's keys come from the key broker through the job's signed URL,
// encrypted to a key pair the worker makes at start and never stores.
type Worker struct {
	river.WorkerDefaults[PackageArgs]
	priv  *rsa.PrivateKey
	s3    func() (*storage.S3, error)
	log   *slog.Logger
	db    database // set by Open: progress updates
	runs  atomic.Int64
	beats time.Duration
}

// WorkerDeps are a Worker's collaborators.
type WorkerDeps struct {
	// Getenv reads the standard AWS environment for s3:// locations
	// (storage.S3ConfigFromEnv); nil = no S3.
	Getenv func(string) string
	Logger *slog.Logger
}

// NewWorker makes a worker and its broker recipient key (RSA 2048, CPIX
// 2.3 §"Content Key Encryption" with RSA-OAEP).
func NewWorker(deps WorkerDeps) (*Worker, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	w := &Worker{priv: priv, log: deps.Logger, beats: time.Second}
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
	err := w.work(ctx, job, start)
	if err != nil && permanent(err) {
		w.log.Warn("package job failed", "job", job.ID, "attempt", job.Attempt, "error", err.Error())
		return river.JobCancel(err)
	}
	return err
}

func (w *Worker) work(ctx context.Context, job *river.Job[PackageArgs], start time.Time) error {
	a := job.Args
	cfg, err := a.Request.packagerConfig(a.Signaling)
	if err != nil {
		return err
	}
	doc, err := delivery.FetchCPIX(ctx, a.KeysURL, w.priv)
	if err != nil {
		return err
	}
	resp, err := speke.ParseCPIX(doc, "key broker answer", w.priv)
	if err != nil {
		return err
	}
	src, err := keys.NewStaticSource(resp.Keys)
	if err != nil {
		return err
	}
	cfg.Keys = src
	var out *storage.S3Output
	if err := w.wireStorage(&cfg, &out); err != nil {
		return err
	}
	prog := &progress{}
	cfg.Observer = prog
	stop := w.reportProgress(job.ID, prog)
	res, err := packager.Package(ctx, cfg)
	stop()
	if err != nil {
		return err
	}
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
	for _, e := range []error{ErrInvalid, packager.ErrConfig, packager.ErrMedia, media.ErrNotMP4, media.ErrMalformed, media.ErrTruncated,
		media.ErrUnsupportedCodec, media.ErrNoSyncSample, media.ErrEncryptedInput, media.ErrNoTracks,
		storage.ErrConfig, storage.ErrNotFound, storage.ErrAccess, storage.ErrNotEmpty, storage.ErrOutputExists,
		delivery.ErrBrokerURL, speke.ErrResponse} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// progress counts segments written and bytes read (SegmentObserver).
type progress struct {
	segments, bytesIn atomic.Int64
}

func (p *progress) StartSegment(context.Context, string, int) func(int64, int64, error) {
	return func(in, _ int64, err error) {
		if err == nil {
			p.segments.Add(1)
			p.bytesIn.Add(in)
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
