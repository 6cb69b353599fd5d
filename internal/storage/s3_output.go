package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// MarkerName is the object that marks an S3 prefix as written by drmpipe
// (as the marker file does for a local output directory). Its content is
// fixed, so that re-runs write the same bytes.
const MarkerName = ".drmpipe-output"

var markerData = []byte("written by drmpipe\n")

// DefaultUploads is how many uploads an S3 output keeps in flight.
const DefaultUploads = 4

// S3OutputStats counts what one run did to its prefix.
type S3OutputStats struct {
	// Uploaded objects (PUTs), and their bytes.
	Uploaded      int
	UploadedBytes int64
	// Unchanged objects: already there with the same bytes (MD5 ETag of a
	// single-part upload), not uploaded again.
	Unchanged int
	// Deleted objects: stale files of an earlier run, and old manifests
	// removed before a changed file replaced one they reference.
	Deleted int
}

// S3Output writes one run's output under s3://bucket/prefix/.
//
// Ordering (a manifest never points at a missing or different file):
//   - media files are uploaded first, up to DefaultUploads at a time;
//   - the manifests only after every media upload succeeded, in the order
//     given, each one a single PUT (an S3 PUT replaces an object whole);
//   - on a re-run, a file already present with the same bytes is not
//     uploaded again (packaging is deterministic for fixed keys and IVs,
//     so a retried job changes nothing and its old manifests stay valid);
//     before the first file that differs is overwritten, the earlier run's
//     manifests (*.mpd, *.m3u8) are deleted, so no old manifest points at
//     a file that changed under it;
//   - objects of the earlier run that this run did not write are deleted
//     only after the new manifests are up.
//
// Only keys under prefix/ are touched. A prefix holding objects without
// drmpipe's marker is refused (ErrNotEmpty). Concurrent runs on one
// prefix are not excluded (S3 has no lock); deterministic output makes
// retries of one job converge.
type S3Output struct {
	s3     *S3
	loc    S3Location // Key is the prefix without a trailing slash
	sem    chan struct{}
	bufs   sync.Pool // of *[]byte: upload copies, reused
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	existing  map[string]string // name -> ETag (without quotes) at open
	written   map[string]bool
	oldGone   bool // the earlier run's manifests are deleted (or there were none)
	err       error
	published bool
	stats     S3OutputStats
}

// OpenOutput lists what an earlier run left under loc (checking that the
// bucket exists and that the credentials may list it) and writes the
// marker. The bucket root (no prefix) is refused: stale-object removal
// would reach every object of the bucket.
func (c *S3) OpenOutput(ctx context.Context, loc S3Location) (*S3Output, error) {
	if loc.Key == "" {
		return nil, fmt.Errorf("%w: %s: give a prefix (s3://bucket/prefix): the output replaces what is under it", ErrConfig, loc)
	}
	o := &S3Output{s3: c, loc: loc, sem: make(chan struct{}, DefaultUploads), existing: map[string]string{}, written: map[string]bool{}}
	p := s3.NewListObjectsV2Paginator(c.client, &s3.ListObjectsV2Input{Bucket: aws.String(loc.Bucket), Prefix: aws.String(loc.Key + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s3Error("list", loc, err)
		}
		for _, obj := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(obj.Key), loc.Key+"/")
			o.existing[name] = strings.Trim(aws.ToString(obj.ETag), `"`)
		}
	}
	if _, ok := o.existing[MarkerName]; !ok && len(o.existing) > 0 {
		return nil, fmt.Errorf("%w: %s holds %d objects and no %s; choose another prefix or empty it", ErrNotEmpty, loc, len(o.existing), MarkerName)
	}
	o.oldGone = true
	for n := range o.existing {
		if isManifest(n) {
			o.oldGone = false
		}
	}
	o.ctx, o.cancel = context.WithCancel(ctx)
	if o.existing[MarkerName] != md5Hex(markerData) {
		if err := o.put(ctx, MarkerName, markerData); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// isManifest tells manifests (DASH MPD, HLS playlists) from media files.
func isManifest(name string) bool {
	return strings.HasSuffix(name, ".mpd") || strings.HasSuffix(name, ".m3u8")
}

// Location is s3://bucket/prefix.
func (o *S3Output) Location() string { return o.loc.String() }

// Stats returns the counts so far.
func (o *S3Output) Stats() S3OutputStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stats
}

// Write starts uploading one media file; see S3Output.
func (o *S3Output) Write(ctx context.Context, name string, parts ...[]byte) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrConfig, o.loc, err)
	}
	if isManifest(name) || name == MarkerName {
		return fmt.Errorf("%w: %s: %s is a manifest name; manifests go through Publish", ErrConfig, o.loc, name)
	}
	select {
	case o.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	bp, _ := o.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	data := (*bp)[:0]
	for _, p := range parts {
		data = append(data, p...)
	}
	*bp = data
	done := func() { o.bufs.Put(bp); <-o.sem }
	upload, err := o.claim(ctx, name, data)
	if err != nil || !upload {
		done()
		return err
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer done()
		if err := o.put(o.ctx, name, data); err != nil {
			o.fail(err)
		}
	}()
	return nil
}

// claim records name as written by this run and tells whether it must be
// uploaded. Before the first upload that changes a file, it deletes the
// earlier run's manifests.
func (o *S3Output) claim(ctx context.Context, name string, data []byte) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return false, o.err
	}
	if o.written[name] {
		return false, fmt.Errorf("%w: %s: %s written twice in one run", ErrConfig, o.loc, name)
	}
	o.written[name] = true
	etag, ok := o.existing[name]
	if ok && etag == md5Hex(data) {
		o.stats.Unchanged++
		return false, nil
	}
	if !o.oldGone {
		var old []string
		for n := range o.existing {
			if isManifest(n) {
				old = append(old, n)
			}
		}
		// Top-level manifests (the MPD, the multivariant playlist) first.
		slices.SortFunc(old, func(a, b string) int { return strings.Count(a, "/") - strings.Count(b, "/") })
		if err := o.delete(ctx, old); err != nil {
			o.err = err
			return false, err
		}
		o.stats.Deleted += len(old)
		for _, n := range old {
			delete(o.existing, n)
		}
		o.oldGone = true
	}
	return true, nil
}

func (o *S3Output) fail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = err
		o.cancel() // stop the other uploads
	}
}

func md5Hex(data []byte) string {
	sum := md5.Sum(data) //nolint:gosec // S3's single-part ETag is the MD5 of the object; it only detects unchanged objects.
	return hex.EncodeToString(sum[:])
}

// put uploads one object.
func (o *S3Output) put(ctx context.Context, name string, data []byte) error {
	key := join(o.loc.Key, name)
	_, err := o.s3.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(o.loc.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(contentType(name)),
	})
	if err != nil {
		return s3Error("write", S3Location{Bucket: o.loc.Bucket, Key: key}, err)
	}
	o.mu.Lock()
	o.stats.Uploaded++
	o.stats.UploadedBytes += int64(len(data))
	o.mu.Unlock()
	return nil
}

// delete removes names under the prefix, up to 1000 per request. The
// caller counts them in stats.
func (o *S3Output) delete(ctx context.Context, names []string) error {
	for len(names) > 0 {
		n := min(len(names), 1000)
		ids := make([]types.ObjectIdentifier, n)
		for i, name := range names[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(join(o.loc.Key, name))}
		}
		out, err := o.s3.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(o.loc.Bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return s3Error("delete from", o.loc, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete s3://%s/%s: %w (%s: %s; %d objects not deleted)", o.loc.Bucket, aws.ToString(e.Key), ErrUnavailable, aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors))
		}
		names = names[n:]
	}
	return nil
}

// Publish waits for the media uploads, uploads the manifests in order and
// deletes the stale objects of an earlier run; see S3Output.
func (o *S3Output) Publish(ctx context.Context, manifests []File) error {
	o.wg.Wait()
	o.mu.Lock()
	err := o.err
	o.mu.Unlock()
	if err != nil {
		return err
	}
	for _, m := range manifests {
		if err := checkName(m.Name); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrConfig, o.loc, err)
		}
		o.mu.Lock()
		o.written[m.Name] = true
		same := o.existing[m.Name] == md5Hex(m.Data)
		if same {
			o.stats.Unchanged++
		}
		o.mu.Unlock()
		if same {
			continue
		}
		if err := o.put(ctx, m.Name, m.Data); err != nil {
			return err
		}
	}
	var stale []string
	for n := range o.existing {
		if !o.written[n] && n != MarkerName {
			stale = append(stale, n)
		}
	}
	slices.Sort(stale)
	if err := o.delete(ctx, stale); err != nil {
		return fmt.Errorf("the new output is complete, but removing %d stale objects of an earlier run failed: %w", len(stale), err)
	}
	o.mu.Lock()
	o.stats.Deleted += len(stale)
	o.published = true
	o.mu.Unlock()
	return nil
}

// Close waits for uploads in flight (cancelling them when Publish was not
// reached) and returns.
func (o *S3Output) Close() error {
	o.mu.Lock()
	published := o.published
	o.mu.Unlock()
	if !published {
		o.cancel()
	}
	o.wg.Wait()
	o.cancel()
	o.mu.Lock()
	defer o.mu.Unlock()
	if !published && o.err != nil && !errors.Is(o.err, context.Canceled) {
		return o.err
	}
	return nil
}

// contentType names the media type of an output file for HTTP clients
// (CDNs pull with what the store returns): ISO BMFF segments (RFC 6381 §3
// registrations, ISO/IEC 23000-19 Annex), DASH MPD (ISO/IEC 23009-1
// Annex C), HLS playlists (RFC 8216 §4) and WebVTT.
func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".mpd"):
		return "application/dash+xml"
	case strings.HasSuffix(name, ".m3u8"):
		return "application/vnd.apple.mpegurl"
	case strings.HasSuffix(name, ".m4s"):
		return "video/iso.segment"
	case strings.HasSuffix(name, ".mp4"):
		return "video/mp4"
	case strings.HasSuffix(name, ".vtt"):
		return "text/vtt"
	}
	return "application/octet-stream"
}
