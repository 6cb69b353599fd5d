package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/drmpipe/drmpipe/internal/storage"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// newS3 starts versitygw with one bucket and returns it with a client
// built from the environment it hands to drmpipe.
func newS3(t *testing.T, bucket string, hc *http.Client) (*testtools.VersityGW, *storage.S3, storage.S3Config) {
	t.Helper()
	gw := testtools.StartVersityGW(t)
	gw.CreateBucket(t, bucket)
	env := map[string]string{}
	for _, kv := range gw.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	cfg := storage.S3ConfigFromEnv(func(k string) string { return env[k] })
	if hc != nil {
		cfg.HTTPClient = hc
	}
	c, err := storage.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return gw, c, cfg
}

func putObject(t *testing.T, gw *testtools.VersityGW, bucket, key string, data []byte) {
	t.Helper()
	gw.Put(t, bucket, key, bytes.NewReader(data))
}

// TestS3ReaderRanges reads a 3 MiB object through a 128 KiB x 4 block
// cache sequentially and from 8 goroutines at scattered offsets: every
// byte matches, a read past the end gives io.EOF, a sequential pass of
// small reads costs one ranged GET per block, and a read of at least a
// block is one GET of exactly its bytes.
func TestS3ReaderRanges(t *testing.T) {
	gw, c, _ := newS3(t, "media", nil)
	data := testtools.RandomBytes(t, 3<<20+123)
	putObject(t, gw, "media", "in/movie.mp4", data)
	ctx := context.Background()
	const bs = 128 << 10
	r, err := c.OpenReader(ctx, storage.S3Location{Bucket: "media", Key: "in/movie.mp4"}, storage.ReaderOptions{BlockSize: bs, Blocks: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(data)) {
		t.Fatalf("size %d, want %d", r.Size(), len(data))
	}
	buf := make([]byte, 100_000)
	for off := int64(0); off < r.Size(); off += int64(len(buf)) {
		n, err := r.ReadAt(buf, off)
		if err != nil && (!errors.Is(err, io.EOF) || off+int64(n) != r.Size()) {
			t.Fatalf("ReadAt(%d): %d, %v", off, n, err)
		}
		if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
			t.Fatalf("bytes at %d differ", off)
		}
	}
	gets, read := r.Stats()
	blocks := (int64(len(data)) + bs - 1) / bs
	if gets != blocks || read != int64(len(data)) {
		t.Errorf("sequential pass: %d GETs reading %d bytes, want %d GETs (one per block) reading %d", gets, read, blocks, len(data))
	}
	big := make([]byte, 1<<20)
	if n, err := r.ReadAt(big, 12345); err != nil || n != len(big) || !bytes.Equal(big, data[12345:12345+len(big)]) {
		t.Fatalf("large read: %d, %v", n, err)
	}
	if g, b := r.Stats(); g != gets+1 || b != read+int64(len(big)) {
		t.Errorf("a 1 MiB read: %d GETs reading %d bytes, want 1 GET of 1 MiB", g-gets, b-read)
	}
	var wg sync.WaitGroup
	var bad atomic.Int32
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 70_000+g*20_000) // below and above the block size
			for i := range 20 {
				off := int64((g*7919 + i*104729) * 97 % (len(data) - len(p)))
				if n, err := r.ReadAt(p, off); err != nil || n != len(p) || !bytes.Equal(p, data[off:off+int64(n)]) {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d concurrent reads returned wrong bytes or errors", bad.Load())
	}
	if n, err := r.ReadAt(buf[:10], r.Size()); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read at end: %d, %v; want 0, EOF", n, err)
	}
}

// TestS3ReaderChanged replaces the object between two reads of blocks not
// yet cached: the second read fails with ErrChanged (If-Match), never
// returning bytes of the new version.
func TestS3ReaderChanged(t *testing.T) {
	gw, c, _ := newS3(t, "media", nil)
	putObject(t, gw, "media", "a.mp4", testtools.RandomBytes(t, 1<<20))
	r, err := c.OpenReader(context.Background(), storage.S3Location{Bucket: "media", Key: "a.mp4"}, storage.ReaderOptions{BlockSize: 64 << 10, Blocks: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.ReadAt(make([]byte, 10), 0); err != nil {
		t.Fatal(err)
	}
	putObject(t, gw, "media", "a.mp4", testtools.RandomBytes(t, 1<<20))
	_, err = r.ReadAt(make([]byte, 10), 900_000)
	if !errors.Is(err, storage.ErrChanged) || !strings.Contains(err.Error(), "s3://media/a.mp4") {
		t.Fatalf("read after replace: %v; want ErrChanged naming s3://media/a.mp4", err)
	}
}

// TestS3Errors: a missing object, a missing bucket, bad credentials and a
// foreign prefix each fail with their sentinel, the bucket/key in the
// message and no secret.
func TestS3Errors(t *testing.T) {
	gw, c, cfg := newS3(t, "media", nil)
	putObject(t, gw, "media", "other/file.bin", []byte("not drmpipe's"))
	ctx := context.Background()
	badCfg := cfg
	badCfg.SecretAccessKey = "wrong" + cfg.SecretAccessKey
	bad, err := storage.NewS3(badCfg)
	if err != nil {
		t.Fatal(err)
	}
	// Each case opens loc through s (the client with the good credentials or
	// the one with the bad secret) as an input, or as an output when out.
	cases := []struct {
		name string
		s    *storage.S3
		loc  storage.S3Location
		out  bool
		want error
		msg  string
	}{
		{"missing object", c, storage.S3Location{Bucket: "media", Key: "nope.mp4"}, false,
			storage.ErrNotFound, "s3://media/nope.mp4"},
		{"missing bucket (input)", c, storage.S3Location{Bucket: "no-such-bucket", Key: "a.mp4"}, false,
			storage.ErrNotFound, "s3://no-such-bucket/a.mp4"},
		{"missing bucket (output)", c, storage.S3Location{Bucket: "no-such-bucket", Key: "out"}, true,
			storage.ErrNotFound, `bucket "no-such-bucket" does not exist`},
		{"bad secret (input)", bad, storage.S3Location{Bucket: "media", Key: "other/file.bin"}, false,
			storage.ErrAccess, "read s3://media/other/file.bin: access denied: the store refused the credentials"},
		{"bad secret (output)", bad, storage.S3Location{Bucket: "media", Key: "out"}, true,
			storage.ErrAccess, "AWS_SECRET_ACCESS_KEY"},
		{"foreign prefix", c, storage.S3Location{Bucket: "media", Key: "other"}, true,
			storage.ErrNotEmpty, "s3://media/other"},
		{"bucket root", c, storage.S3Location{Bucket: "media"}, true,
			storage.ErrConfig, "give a prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.out {
				_, err = tc.s.OpenOutput(ctx, tc.loc)
			} else {
				_, err = tc.s.OpenReader(ctx, tc.loc, storage.ReaderOptions{})
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v; want %v containing %q", err, tc.want, tc.msg)
			}
			t.Log(err)
			if strings.Contains(err.Error(), cfg.SecretAccessKey) {
				t.Fatalf("error carries the secret: %v", err)
			}
		})
	}
}

func TestParseS3(t *testing.T) {
	cases := []struct {
		in      string
		bucket  string
		key     string
		wantErr string
	}{
		{"s3://media/in/movie.mp4", "media", "in/movie.mp4", ""},
		{"s3://media/out/", "media", "out", ""},
		{"s3://media", "media", "", ""},
		{"s3://Media/x", "", "", "lower-case"},
		{"s3://ab/x", "", "", "3 to 63"},
		{"s3://media/a//b", "", "", "empty"},
		{"s3://media/a/../b", "", "", "'..'"},
		{"/local/path", "", "", "not an s3:// location"},
	}
	for _, tc := range cases {
		l, err := storage.ParseS3(tc.in)
		if tc.wantErr != "" {
			if !errors.Is(err, storage.ErrConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: got %v, want ErrConfig containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || l.Bucket != tc.bucket || l.Key != tc.key {
			t.Errorf("%s: got %+v, %v", tc.in, l, err)
		}
	}
}

func TestS3ConfigFromEnv(t *testing.T) {
	env := map[string]string{"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_S3": "http://s3", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "topsecret"}
	cfg := storage.S3ConfigFromEnv(func(k string) string { return env[k] })
	if cfg.Endpoint != "http://s3" || cfg.Region != "eu-west-1" || cfg.AccessKeyID != "id" {
		t.Errorf("config %v", cfg)
	}
	if strings.Contains(fmt.Sprint(cfg), "topsecret") {
		t.Errorf("String prints the secret: %v", cfg)
	}
	for _, tc := range []struct {
		cfg  storage.S3Config
		want string
	}{
		{storage.S3Config{AccessKeyID: "a", SecretAccessKey: "b"}, "AWS_REGION"},
		{storage.S3Config{Region: "x", AccessKeyID: "a"}, "AWS_SECRET_ACCESS_KEY"},
		{storage.S3Config{Endpoint: "ftp://x", AccessKeyID: "a", SecretAccessKey: "b"}, "not an http(s) URL"},
	} {
		if _, err := storage.NewS3(tc.cfg); !errors.Is(err, storage.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewS3(%v): %v, want ErrConfig naming %s", tc.cfg, err, tc.want)
		}
	}
}

// sortedKeys lists a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
