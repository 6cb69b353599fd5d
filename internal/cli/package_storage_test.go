package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/packager"
	"github.com/drmpipe/drmpipe/internal/storage"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

// s3Env starts versitygw with a bucket "media" holding the bundled clip at
// in/sample.mp4 and points the AWS environment of this process at it.
func s3Env(t *testing.T) (*testtools.VersityGW, string) {
	t.Helper()
	gw := testtools.StartVersityGW(t)
	gw.CreateBucket(t, "media")
	clip := testtools.SampleClip(t)
	gw.PutFile(t, "media", "in/sample.mp4", clip)
	for _, kv := range gw.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_ENDPOINT_URL", "")
	return gw, clip
}

// download writes the objects under bucket/prefix/ into a temp dir.
func download(t *testing.T, gw *testtools.VersityGW, bucket, prefix string) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	objs := gw.Objects(t, bucket, prefix+"/")
	for k, data := range objs {
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(k, prefix+"/")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, objs
}

// TestPackageS3 packages the clip from S3 to S3 (versitygw on loopback,
// configured only through the AWS environment): the objects are the bytes
// of the same job packaged locally, drmpipe verify decrypts every segment
// of a downloaded copy, ffmpeg decrypts the video to the clear input's
// packets, and a re-run leaves every object's bytes as they were and
// uploads nothing.
func TestPackageS3(t *testing.T) {
	gw, clip := s3Env(t)
	args := []string{"package", "-q", "--key", testKID + ":" + testKey, "--iv", testIV}
	code, stdout, stderr := run(t, append(args, "-o", "s3://media/out/sample", "s3://media/in/sample.mp4")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "into s3://media/out/sample") || !strings.Contains(stdout, "s3://media/out/sample: 17 object(s) uploaded") {
		t.Errorf("stdout %q", stdout)
	}
	dir, first := download(t, gw, "media", "out/sample")

	local := filepath.Join(t.TempDir(), "local")
	if code, _, stderr := run(t, append(args, "-o", local, clip)...); code != 0 {
		t.Fatalf("local run: exit %d: %s", code, stderr)
	}
	var localFiles []string
	filepath.WalkDir(local, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != ".drmpipe-output" {
			rel, _ := filepath.Rel(local, p)
			localFiles = append(localFiles, filepath.ToSlash(rel))
		}
		return nil
	})
	for _, rel := range localFiles {
		want, _ := os.ReadFile(filepath.Join(local, rel))
		if got, ok := first["out/sample/"+rel]; !ok || !bytes.Equal(got, want) {
			t.Errorf("s3://media/out/sample/%s differs from the local output's %s (present %t)", rel, rel, ok)
		}
	}
	if len(first) != len(localFiles)+1 {
		t.Errorf("%d objects, want the %d local files and the marker", len(first), len(localFiles))
	}

	if code, out, stderr := run(t, "verify", "--key", testKID+":"+testKey, dir); code != 0 {
		t.Errorf("verify of the downloaded output: exit %d\n%s%s", code, out, stderr)
	}
	video := testtools.ConcatTrack(t, filepath.Join(dir, "video_720p"))
	if got, want := testtools.FrameMD5(t, video, "0", testKey), testtools.FrameMD5(t, clip, "0", ""); !slices.Equal(got, want) {
		t.Errorf("ffmpeg: decrypted video packets differ from the clear input's (%d vs %d)", len(got), len(want))
	}

	code, stdout, stderr = run(t, append(args, "-o", "s3://media/out/sample", "s3://media/in/sample.mp4")...)
	if code != 0 {
		t.Fatalf("re-run: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "0 object(s) uploaded (0.0 MB), 16 unchanged, 0 deleted") {
		t.Errorf("re-run stdout %q", stdout)
	}
	_, second := download(t, gw, "media", "out/sample")
	for k, v := range first {
		if !bytes.Equal(second[k], v) {
			t.Errorf("re-run changed %s", k)
		}
	}
	if len(second) != len(first) {
		t.Errorf("re-run: %d objects, want %d", len(second), len(first))
	}
}

// TestPackageS3Errors: bad locations, credentials and buckets fail with
// the bucket/key in the message and never the secret; nothing is written
// for a bad input.
func TestPackageS3Errors(t *testing.T) {
	gw, _ := s3Env(t)
	key := "--key=" + testKID + ":" + testKey
	secret := os.Getenv("AWS_SECRET_ACCESS_KEY")
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{"missing object", nil, []string{"-o", "s3://media/out/x", "s3://media/in/nope.mp4"}, "read s3://media/in/nope.mp4: not found"},
		{"missing bucket (input)", nil, []string{"-o", "s3://media/out/x", "s3://nobucket/in.mp4"}, "s3://nobucket/in.mp4: not found: bucket \"nobucket\" does not exist"},
		{"missing bucket (output)", nil, []string{"-o", "s3://nobucket/out", "s3://media/in/sample.mp4"}, "list s3://nobucket/out: not found: bucket \"nobucket\" does not exist"},
		{"wrong secret", map[string]string{"AWS_SECRET_ACCESS_KEY": secret + "x"}, []string{"-o", "s3://media/out/x", "s3://media/in/sample.mp4"}, "read s3://media/in/sample.mp4: access denied: the store refused the credentials"},
		{"no credentials", map[string]string{"AWS_ACCESS_KEY_ID": ""}, []string{"-o", "s3://media/out/x", "s3://media/in/sample.mp4"}, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"bad bucket name", nil, []string{"-o", "s3://Media/out", "s3://media/in/sample.mp4"}, `--output: invalid storage configuration: s3://Media/out: bucket name "Media"`},
		{"bucket root output", nil, []string{"-o", "s3://media", "s3://media/in/sample.mp4"}, "s3://media: give a prefix"},
		{"not mp4", nil, []string{"-o", "s3://media/out/x", "s3://media/.keep"}, "s3://media/.keep"},
		{"server down", map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"}, []string{"-o", "s3://media/out/x", "s3://media/in/sample.mp4"}, "read s3://media/in/sample.mp4: object store unavailable"},
	}
	gw.Put(t, "media", ".keep", strings.NewReader("not a movie"))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := run(t, append([]string{"package", "-q", key}, tc.args...)...)
			if code == 0 || !strings.Contains(stderr, tc.wantErr) {
				t.Fatalf("exit %d, stderr %q; want failure with %q", code, stderr, tc.wantErr)
			}
			if strings.Contains(stderr, secret) {
				t.Fatalf("stderr carries the secret: %s", stderr)
			}
		})
	}
	if objs := gw.Objects(t, "media", "out/"); len(objs) != 0 {
		t.Errorf("failed runs wrote %v", slices.Sorted(func(yield func(string) bool) {
			for k := range objs {
				if !yield(k) {
					return
				}
			}
		}))
	}
}

// faultTransport runs hook before the n-th PUT of a media segment and
// fails every later segment PUT when fail is set, as a store that goes
// away mid-upload.
type faultTransport struct {
	mu   sync.Mutex
	n    int
	puts int
	hook func()
	fail bool
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, ".m4s") {
		f.mu.Lock()
		f.puts++
		n := f.puts
		if n == f.n && f.hook != nil {
			f.hook()
		}
		f.mu.Unlock()
		if f.fail && n >= f.n {
			return nil, errors.New("injected fault: connection reset by peer")
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestPackageS3Interrupted packages to S3 through a transport that fails
// every segment upload after the fifth, and through a store stopped after
// the fifth: the run fails naming an object under the prefix, and no
// manifest is in the bucket. Once the store is back, a run publishes the
// whole output.
func TestPackageS3Interrupted(t *testing.T) {
	gw, clip := s3Env(t)
	byType, err := parseKeyFlags([]string{testKID + ":" + testKey}, false)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.NewPeriodStaticSource(byType)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ft   *faultTransport
	}{
		{"fault", &faultTransport{n: 5, fail: true}},
		{"server stopped", &faultTransport{n: 5, hook: gw.Stop}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := storage.NewS3(storage.S3Config{Endpoint: gw.Endpoint, AccessKeyID: gw.AccessKey, SecretAccessKey: gw.SecretKey, HTTPClient: &http.Client{Transport: tc.ft}, MaxAttempts: 2})
			if err != nil {
				t.Fatal(err)
			}
			prefix := "out/" + strings.ReplaceAll(tc.name, " ", "-")
			cfg := packager.Config{
				Inputs: []string{clip}, SegmentDuration: 2 * time.Second, Scheme: cenc.CBCS, Keys: ks,
				Systems: []drm.System{drm.ClearKey, drm.Widevine},
				Output: func(ctx context.Context) (storage.Output, error) {
					return client.OpenOutput(ctx, storage.S3Location{Bucket: "media", Key: prefix})
				},
			}
			_, err = packager.Package(context.Background(), cfg)
			if !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), "s3://media/"+prefix+"/") {
				t.Fatalf("interrupted run: %v; want ErrUnavailable naming an object under s3://media/%s/", err, prefix)
			}
			gw.Restart(t)
			objs := gw.Objects(t, "media", prefix+"/")
			for k := range objs {
				if strings.HasSuffix(k, ".mpd") || strings.HasSuffix(k, ".m3u8") {
					t.Errorf("interrupted run left manifest %s", k)
				}
			}
			t.Logf("%s: %d objects left, no manifest", tc.name, len(objs))
			if code, _, stderr := run(t, "package", "-q", "--key", testKID+":"+testKey, "-o", "s3://media/"+prefix, "s3://media/in/sample.mp4"); code != 0 {
				t.Fatalf("run after the interruption: exit %d: %s", code, stderr)
			}
			if _, ok := gw.Objects(t, "media", prefix+"/")[prefix+"/manifest.mpd"]; !ok {
				t.Error("no manifest after a complete run")
			}
		})
	}
}

// TestPackageS3Text: a --text sidecar in S3 is read through the same
// opener as the media inputs, into a local output.
func TestPackageS3Text(t *testing.T) {
	gw, clip := s3Env(t)
	gw.Put(t, "media", "subs/fr.vtt", strings.NewReader("WEBVTT\n\n00:00.500 --> 00:01.500\nbonjour\n"))
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := run(t, "package", "-q", "-o", out, "--key", testKID+":"+testKey, "--text", "s3://media/subs/fr.vtt:lang=fr", clip)
	if code != 0 || !strings.Contains(stdout, "text_fr") {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	vtt, err := os.ReadFile(filepath.Join(out, "text_fr", "seg_1.vtt"))
	if err != nil || !strings.Contains(string(vtt), "bonjour") {
		t.Fatalf("text_fr/seg_1.vtt: %q, %v", vtt, err)
	}
}
