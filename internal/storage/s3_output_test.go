package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/drmpipe/drmpipe/internal/storage"
)

// recorder is an http.RoundTripper that logs "METHOD key" for every
// request to the bucket and fails requests matching fail.
type recorder struct {
	bucket string
	mu     sync.Mutex
	log    []string
	fail   func(method, key string) bool
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	key := strings.TrimPrefix(strings.TrimPrefix(req.URL.Path, "/"+r.bucket), "/")
	r.mu.Lock()
	r.log = append(r.log, req.Method+" "+key)
	fail := r.fail
	r.mu.Unlock()
	if fail != nil && fail(req.Method, key) {
		return nil, fmt.Errorf("injected fault: connection reset")
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.log
	r.log = nil
	return l
}

// index returns the position of the first entry with the given prefix, or -1.
func index(log []string, prefix string) int {
	return slices.IndexFunc(log, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

type run struct {
	media     map[string]string
	manifests []storage.File
}

func output(media map[string]string, version string) run {
	r := run{media: media}
	for _, n := range []string{"video/playlist.m3u8", "manifest.mpd", "master.m3u8"} {
		r.manifests = append(r.manifests, storage.File{Name: n, Data: []byte(n + " " + version)})
	}
	return r
}

func (r run) write(ctx context.Context, c *storage.S3, loc storage.S3Location) (storage.S3OutputStats, error) {
	out, err := c.OpenOutput(ctx, loc)
	if err != nil {
		return storage.S3OutputStats{}, err
	}
	defer out.Close()
	for _, name := range sortedKeys(r.media) {
		if err := out.Write(ctx, name, []byte(r.media[name][:2]), []byte(r.media[name][2:])); err != nil {
			return out.Stats(), err
		}
	}
	err = out.Publish(ctx, r.manifests)
	return out.Stats(), err
}

// TestS3OutputOrder packages three runs into one prefix and watches the
// requests: media first, manifests last in the given order; an identical
// re-run uploads nothing and deletes nothing; a changed re-run deletes the
// old manifests before it overwrites a file they reference, and deletes the
// earlier run's stale segment only after its own manifests are up. Only
// keys under the prefix are touched.
func TestS3OutputOrder(t *testing.T) {
	rec := &recorder{bucket: "vod"}
	gw, c, _ := newS3(t, "vod", &http.Client{Transport: rec})
	putObject(t, gw, "vod", "title2/keep.txt", []byte("a neighbour prefix"))
	ctx := context.Background()
	loc := storage.S3Location{Bucket: "vod", Key: "title"}

	first := output(map[string]string{"video/init.mp4": "init-1", "video/seg_1.m4s": "seg1-1", "video/seg_2.m4s": "seg2-1"}, "v1")
	st, err := first.write(ctx, c, loc)
	if err != nil {
		t.Fatal(err)
	}
	log := rec.take()
	lastMedia := slices.IndexFunc(log, func(s string) bool { return strings.HasPrefix(s, "PUT title/video/") && strings.HasSuffix(s, ".m4s") })
	for i, s := range log {
		if strings.HasPrefix(s, "PUT") && strings.HasSuffix(s, ".m4s") && i > lastMedia {
			lastMedia = i
		}
	}
	pl, mpd, master := index(log, "PUT title/video/playlist.m3u8"), index(log, "PUT title/manifest.mpd"), index(log, "PUT title/master.m3u8")
	if lastMedia >= pl || pl >= mpd || mpd >= master {
		t.Errorf("first run: want media, then playlist, MPD, master; requests:\n%s", strings.Join(log, "\n"))
	}
	if st.Uploaded != 7 || st.Unchanged != 0 || st.Deleted != 0 {
		t.Errorf("first run stats %+v, want 7 uploads (marker, 3 media, 3 manifests)", st)
	}

	st, err = first.write(ctx, c, loc)
	if err != nil {
		t.Fatal(err)
	}
	log = rec.take()
	if index(log, "PUT") >= 0 || index(log, "POST") >= 0 || index(log, "DELETE") >= 0 {
		t.Errorf("identical re-run wrote or deleted: %s", strings.Join(log, "\n"))
	}
	if st.Uploaded != 0 || st.Unchanged != 6 {
		t.Errorf("identical re-run stats %+v, want 0 uploads, 6 unchanged", st)
	}

	second := output(map[string]string{"video/init.mp4": "init-1", "video/seg_2.m4s": "seg2-2", "video/seg_3.m4s": "seg3-2"}, "v2")
	st, err = second.write(ctx, c, loc)
	if err != nil {
		t.Fatal(err)
	}
	log = rec.take()
	del := index(log, "POST") // DeleteObjects is POST /bucket?delete
	changed := index(log, "PUT title/video/seg_2.m4s")
	newMaster := index(log, "PUT title/master.m3u8")
	staleDel := slices.IndexFunc(log[del+1:], func(s string) bool { return strings.HasPrefix(s, "POST") })
	if del < 0 || changed < del || staleDel < 0 || del+1+staleDel < newMaster {
		t.Errorf("changed re-run: want DELETE old manifests, PUT changed media, PUT manifests, DELETE stale; requests:\n%s", strings.Join(log, "\n"))
	}
	if st.Deleted != 4 || st.Unchanged != 1 || st.Uploaded != 5 {
		t.Errorf("changed re-run stats %+v, want 3 old manifests + 1 stale segment deleted, init unchanged, 2 media + 3 manifests uploaded", st)
	}
	objs := gw.Objects(t, "vod", "")
	want := []string{"title/.drmpipe-output", "title/manifest.mpd", "title/master.m3u8", "title/video/init.mp4", "title/video/playlist.m3u8", "title/video/seg_2.m4s", "title/video/seg_3.m4s", "title2/keep.txt"}
	if got := sortedKeys(objs); !slices.Equal(got, want) {
		t.Errorf("bucket after the changed re-run:\n%v\nwant\n%v", got, want)
	}
	if string(objs["title/video/seg_2.m4s"]) != "seg2-2" || string(objs["title/manifest.mpd"]) != "manifest.mpd v2" {
		t.Error("changed re-run did not replace the objects")
	}
}

// TestS3OutputInterrupted cuts uploads short with a transport that fails
// every PUT of one segment (after the SDK's retries): Publish fails naming
// the key, and no manifest is in the bucket, neither on a first run nor on
// a changed re-run over a complete earlier output (whose manifests are
// removed before the first changed file).
func TestS3OutputInterrupted(t *testing.T) {
	rec := &recorder{bucket: "vod"}
	gw, c, _ := newS3(t, "vod", &http.Client{Transport: rec})
	ctx := context.Background()
	failSeg3 := func(method, key string) bool { return method == http.MethodPut && strings.HasSuffix(key, "seg_3.m4s") }
	media := map[string]string{"video/init.mp4": "init-1", "video/seg_1.m4s": "seg1", "video/seg_2.m4s": "seg2", "video/seg_3.m4s": "seg3", "video/seg_4.m4s": "seg4"}

	rec.fail = failSeg3
	_, err := output(media, "v1").write(ctx, c, storage.S3Location{Bucket: "vod", Key: "fresh"})
	if !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), "s3://vod/fresh/video/seg_3.m4s") {
		t.Fatalf("interrupted run: %v; want ErrUnavailable naming s3://vod/fresh/video/seg_3.m4s", err)
	}
	for k := range gw.Objects(t, "vod", "fresh/") {
		if strings.HasSuffix(k, ".mpd") || strings.HasSuffix(k, ".m3u8") {
			t.Errorf("interrupted first run left manifest %s", k)
		}
	}

	rec.fail = nil
	if _, err := output(media, "v1").write(ctx, c, storage.S3Location{Bucket: "vod", Key: "title"}); err != nil {
		t.Fatal(err)
	}
	changed := map[string]string{}
	for k, v := range media {
		changed[k] = v + "-changed"
	}
	rec.fail = failSeg3
	if _, err := output(changed, "v2").write(ctx, c, storage.S3Location{Bucket: "vod", Key: "title"}); err == nil {
		t.Fatal("interrupted re-run succeeded")
	}
	for k := range gw.Objects(t, "vod", "title/") {
		if strings.HasSuffix(k, ".mpd") || strings.HasSuffix(k, ".m3u8") {
			t.Errorf("interrupted changed re-run left manifest %s pointing at changed segments", k)
		}
	}
	rec.fail = nil
	if _, err := output(changed, "v2").write(ctx, c, storage.S3Location{Bucket: "vod", Key: "title"}); err != nil {
		t.Fatalf("re-run after the interruption: %v", err)
	}
	if got := len(gw.Objects(t, "vod", "title/")); got != 9 {
		t.Errorf("after the re-run: %d objects, want 9 (marker, 5 media, 3 manifests)", got)
	}
}
