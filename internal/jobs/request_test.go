package jobs

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/media"
	"github.com/drmpipe/drmpipe/internal/storage"
)

var testSignaling = Signaling{Systems: []string{"widevine", "playready", "fairplay", "clearkey"}}

func okRequest() Request {
	return Request{Inputs: []string{"s3://mezz/t1.mp4"}, Output: "s3://vod/t1", ContentID: "t1"}
}

// TestNormalize: each bad field is refused with its name; defaults are
// filled so that every run of a job is the same (an IV chosen once).
func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Request)
		field string // "" = accepted
	}{
		{"defaults", func(*Request) {}, ""},
		{"no inputs", func(r *Request) { r.Inputs = nil }, "inputs"},
		{"empty input", func(r *Request) { r.Inputs = []string{""} }, "inputs[0]"},
		{"bad s3 input", func(r *Request) { r.Inputs = []string{"s3://"} }, "inputs[0]"},
		{"no output", func(r *Request) { r.Output = "" }, "output"},
		{"bad content ID", func(r *Request) { r.ContentID = "../x" }, "contentId"},
		{"scheme", func(r *Request) { r.Scheme = "cbcx" }, "scheme"},
		{"dual with scheme", func(r *Request) { r.Dual, r.Scheme = true, "cenc" }, "scheme"},
		{"keysPer", func(r *Request) { r.KeysPer = "track" }, "keysPer"},
		{"drms", func(r *Request) { r.DRMs = []string{"primetime"} }, "drms"},
		{"key period", func(r *Request) { r.KeyPeriod = "30s" }, ""},
		{"key period not a duration", func(r *Request) { r.KeyPeriod = "often" }, "keyPeriod"},
		{"key period under a segment", func(r *Request) { r.KeyPeriod = "1s" }, "keyPeriod"},
		{"key period under a given segment", func(r *Request) { r.KeyPeriod, r.SegmentDuration = "4s", "6s" }, "keyPeriod"},
		{"clear lead", func(r *Request) { r.ClearLead = "soon" }, "clearLead"},
		{"segment duration", func(r *Request) { r.SegmentDuration = "0s" }, "segmentDuration"},
		{"iv not hex", func(r *Request) { r.IV = "zz" }, "iv"},
		{"iv length", func(r *Request) { r.IV = "0011" }, "options"},
		{"cenc with fairplay", func(r *Request) { r.Scheme, r.DRMs = "cenc", []string{"fairplay"} }, "options"},
		{"dual", func(r *Request) { r.Dual = true }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := okRequest()
			tc.edit(&r)
			got, err := r.normalize(testSignaling)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if (got.Scheme == "") != got.Dual || got.KeysPer != "asset" || got.IV == "" || len(got.DRMs) == 0 {
					t.Fatalf("defaults not filled: %+v", got)
				}
				again, err := got.normalize(testSignaling)
				if err != nil || again.IV != got.IV || !again.equal(got) {
					t.Fatalf("normalize is not stable: %+v / %+v %v", got, again, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("want ErrInvalid naming %s, got %v", tc.field, err)
			}
		})
	}
	// cenc leaves FairPlay out of the default systems and gets an 8-byte IV.
	r := okRequest()
	r.Scheme = "cenc"
	got, err := r.normalize(testSignaling)
	if err != nil || strings.Contains(strings.Join(got.DRMs, ","), "fairplay") || len(got.IV) != 16 {
		t.Fatalf("cenc defaults: %+v %v", got, err)
	}
}

// TestPermanent: errors a retry cannot mend fail the job at once; the
// others are retried.
func TestPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("s3://b/k: %w", media.ErrNotMP4), true},
		{fmt.Errorf("s3://b/k: %w", storage.ErrNotFound), true},
		{fmt.Errorf("s3://b: %w", storage.ErrAccess), true},
		{fmt.Errorf("%w: scheme", ErrInvalid), true},
		{&delivery.FetchError{Status: http.StatusForbidden, Code: "token_expired"}, true},
		{&delivery.FetchError{Status: http.StatusServiceUnavailable}, false},
		{&delivery.FetchError{Status: http.StatusTooManyRequests}, false},
		{fmt.Errorf("broker URL for job 1: %w", &APIError{Status: http.StatusUnauthorized}), true},
		{fmt.Errorf("broker URL for job 1: %w", &APIError{Status: http.StatusConflict}), true},
		{fmt.Errorf("broker URL for job 1: %w", &APIError{Status: http.StatusServiceUnavailable}), false},
		{fmt.Errorf("track 1: %w: no ContentKeyPeriod with index 1", keys.ErrNoKey), true},
		{fmt.Errorf("s3://b/k: %w", storage.ErrUnavailable), false},
		{fmt.Errorf("%w 127.0.0.1:1: connection refused", delivery.ErrFetch), false},
		{errors.New("connection reset by peer"), false},
	} {
		if got := permanent(tc.err); got != tc.want {
			t.Errorf("%v: permanent %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate("jobs"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*Config)
		key  string
	}{
		{func(c *Config) { c.DSN = "sqlite:" }, "jobs.dsn"},
		{func(c *Config) { c.DSN = "mysql://h/db" }, "jobs.dsn"},
		{func(c *Config) { c.DSN = "postgres://" }, "jobs.dsn"},
		{func(c *Config) { c.MaxAttempts = 0 }, "jobs.max_attempts"},
		{func(c *Config) { c.Timeout = 0 }, "jobs.timeout"},
		{func(c *Config) { c.RescueAfter = time.Second }, "jobs.rescue_after"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if err := c.Validate("jobs"); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("want %s refused, got %v", tc.key, err)
		}
	}
	c := DefaultConfig()
	c.ResolveDSN("sqlite:/data/keys.db", "/data")
	if c.DSN != "sqlite:/data/jobs.db" {
		t.Errorf("a SQLite store: queue %q, want the embedded file", c.DSN)
	}
	c = DefaultConfig()
	c.ResolveDSN("postgres://u@h/db", "/data")
	if c.DSN != "postgres://u@h/db" {
		t.Errorf("a PostgreSQL store's DSN not used: %q", c.DSN)
	}
}
