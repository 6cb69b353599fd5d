package storage

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ReaderOptions tune the read cache of an S3 input.
type ReaderOptions struct {
	// BlockSize is the size of one cached ranged GET (default 256 KiB).
	// Reads of at least BlockSize (a video segment's samples) are one
	// ranged GET of exactly their bytes, straight into the caller's
	// buffer; smaller reads (box headers, an audio segment's samples) go
	// through the cache.
	BlockSize int64
	// Blocks is how many blocks the cache keeps (default 16): memory is
	// about (Blocks + concurrent readers) * BlockSize, whatever the
	// object's size. Evicted blocks' buffers are reused.
	Blocks int
}

const (
	defaultBlockSize = 256 << 10
	defaultBlocks    = 16
)

// S3Reader reads one object with ranged GETs (RFC 9110 §14.1.2): large
// reads directly, small ones through a bounded cache of fixed-size blocks,
// one block ahead of a sequential reader. Every GET carries If-Match with the ETag seen at open
// (RFC 9110 §13.1.1), so an object replaced while it is read fails with
// ErrChanged instead of mixing two versions. Safe for concurrent use.
type S3Reader struct {
	s3     *S3
	loc    S3Location
	etag   string
	size   int64
	bs     int64
	max    int
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	blocks map[int64]*block
	lru    *list.List // of *block, most recent first
	free   [][]byte   // buffers of evicted blocks, for reuse

	gets  atomic.Int64
	bytes atomic.Int64
}

type block struct {
	idx   int64
	ready chan struct{}
	data  []byte
	err   error
	elem  *list.Element
	buf   []byte // the buffer data is read into (from r.free or new)
	refs  int    // readers copying from data; evicted only at 0 (r.mu)
}

// OpenReader reads the first byte of the object at loc, which gives its
// size (Content-Range, RFC 9110 §14.4) and ETag, and returns a reader over
// it. A GET rather than a HEAD: a failed GET has a body with the store's
// error code (NoSuchBucket, NoSuchKey, SignatureDoesNotMatch), a HEAD only
// a status. ctx bounds every later read.
func (c *S3) OpenReader(ctx context.Context, loc S3Location, opts ReaderOptions) (*S3Reader, error) {
	size, etag, err := c.probe(ctx, loc)
	if err != nil {
		return nil, err
	}
	if opts.BlockSize <= 0 {
		opts.BlockSize = defaultBlockSize
	}
	if opts.Blocks <= 0 {
		opts.Blocks = defaultBlocks
	}
	rctx, cancel := context.WithCancel(ctx)
	return &S3Reader{
		s3: c, loc: loc, etag: etag, size: size,
		bs: opts.BlockSize, max: opts.Blocks, ctx: rctx, cancel: cancel,
		blocks: map[int64]*block{}, lru: list.New(),
	}, nil
}

// probe returns the size and ETag of the object at loc.
func (c *S3) probe(ctx context.Context, loc S3Location) (int64, string, error) {
	out, err := c.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key), Range: aws.String("bytes=0-0")})
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable {
		return 0, "", nil // an empty object has no byte 0
	}
	if err != nil {
		return 0, "", s3Error("read", loc, err)
	}
	defer out.Body.Close()
	_, _ = io.Copy(io.Discard, out.Body)
	cr := aws.ToString(out.ContentRange) // "bytes 0-0/SIZE"
	i := strings.LastIndexByte(cr, '/')
	size, perr := strconv.ParseInt(cr[i+1:], 10, 64)
	if i < 0 || perr != nil {
		return 0, "", fmt.Errorf("read %s: %w: no object size in Content-Range %q", loc, ErrUnavailable, cr)
	}
	return size, aws.ToString(out.ETag), nil
}

// Size is the object's size in bytes.
func (r *S3Reader) Size() int64 { return r.size }

// Stats returns the number of ranged GETs made and the bytes they read.
func (r *S3Reader) Stats() (gets, bytes int64) { return r.gets.Load(), r.bytes.Load() }

// Close cancels reads in flight and waits for them.
func (r *S3Reader) Close() error {
	r.cancel()
	r.wg.Wait()
	return nil
}

// ReadAt implements io.ReaderAt.
func (r *S3Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset", r.loc)
	}
	if int64(len(p)) >= r.bs {
		return r.direct(p, off)
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.size {
			return n, io.EOF
		}
		b := r.block(pos / r.bs)
		var err error
		select {
		case <-b.ready:
			if err = b.err; err == nil {
				n += copy(p[n:], b.data[pos-b.idx*r.bs:])
			}
		case <-r.ctx.Done():
			err = fmt.Errorf("read %s: %w", r.loc, r.ctx.Err())
		}
		r.release(b)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// direct reads p at off with one ranged GET, bypassing the cache.
func (r *S3Reader) direct(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size) // exclusive
	body, err := r.get(off, end)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, p[:end-off])
	r.bytes.Add(int64(n))
	if err != nil {
		return n, fmt.Errorf("read %s: bytes %d-%d: %w: %w", r.loc, off, end-1, ErrUnavailable, err)
	}
	if end < off+int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// get starts a ranged GET of bytes [start, end) of the object version seen
// at open.
func (r *S3Reader) get(start, end int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{
		Bucket: aws.String(r.loc.Bucket),
		Key:    aws.String(r.loc.Key),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", start, end-1)),
	}
	if r.etag != "" {
		in.IfMatch = aws.String(r.etag)
	}
	r.gets.Add(1)
	out, err := r.s3.client.GetObject(r.ctx, in)
	if err != nil {
		return nil, s3Error("read", r.loc, err)
	}
	return out.Body, nil
}

// release ends one reader's use of b.
func (r *S3Reader) release(b *block) {
	r.mu.Lock()
	b.refs--
	r.mu.Unlock()
}

// block returns block idx, fetching it if it is not cached. When the
// block before it is cached too (a sequential reader) it also starts
// fetching the next one (read-ahead); scattered small reads (an audio
// track's chunks between video chunks) fetch no block they do not need.
func (r *S3Reader) block(idx int64) *block {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, sequential := r.blocks[idx-1]
	b := r.lookup(idx)
	b.refs++
	if next := idx + 1; sequential && next*r.bs < r.size {
		r.lookup(next)
	}
	return b
}

// lookup returns the cached block idx or starts its fetch; r.mu is held.
func (r *S3Reader) lookup(idx int64) *block {
	if b, ok := r.blocks[idx]; ok {
		r.lru.MoveToFront(b.elem)
		return b
	}
	b := &block{idx: idx, ready: make(chan struct{})}
	b.elem = r.lru.PushFront(b)
	r.blocks[idx] = b
	r.evict()
	if n := len(r.free); n > 0 {
		b.buf, r.free = r.free[n-1], r.free[:n-1]
	}
	r.wg.Add(1)
	go r.fetch(b)
	return b
}

// evict drops the least recently used finished blocks beyond the limit
// and keeps their buffers for reuse; blocks still being fetched or read
// from stay, so the cache can exceed the limit by the number of fetches
// and readers in flight.
func (r *S3Reader) evict() {
	for e := r.lru.Back(); e != nil && len(r.blocks) > r.max; {
		prev := e.Prev()
		b := e.Value.(*block)
		select {
		case <-b.ready:
			if b.refs == 0 {
				r.lru.Remove(e)
				delete(r.blocks, b.idx)
				if b.buf != nil {
					r.free = append(r.free, b.buf)
				}
			}
		default:
		}
		e = prev
	}
}

func (r *S3Reader) fetch(b *block) {
	defer r.wg.Done()
	defer close(b.ready)
	start := b.idx * r.bs
	end := min(start+r.bs, r.size) // exclusive
	body, err := r.get(start, end)
	if err != nil {
		b.err = err
		r.forget(b)
		return
	}
	defer body.Close()
	if int64(cap(b.buf)) < r.bs {
		b.buf = make([]byte, r.bs)
	}
	data := b.buf[:end-start]
	if _, err := io.ReadFull(body, data); err != nil {
		b.err = fmt.Errorf("read %s: bytes %d-%d: %w: %w", r.loc, start, end-1, ErrUnavailable, err)
		r.forget(b)
		return
	}
	r.bytes.Add(int64(len(data)))
	b.data = data
}

// forget drops a failed block so that a later read tries again (after the
// SDK's own retries gave up, the caller decides).
func (r *S3Reader) forget(b *block) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.blocks[b.idx] == b {
		r.lru.Remove(b.elem)
		delete(r.blocks, b.idx)
	}
}
