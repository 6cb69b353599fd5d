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
	// BlockSize is the size of one ranged GET (default 4 MiB).
	BlockSize int64
	// Blocks is how many blocks the cache keeps (default 8): memory is
	// about (Blocks + concurrent readers) * BlockSize, whatever the
	// object's size.
	Blocks int
}

const (
	defaultBlockSize = 4 << 20
	defaultBlocks    = 8
)

// S3Reader reads one object with ranged GETs (RFC 9110 §14.1.2) through a
// bounded cache of fixed-size blocks, reading one block ahead of a
// sequential reader. Every GET carries If-Match with the ETag seen at open
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

	gets  atomic.Int64
	bytes atomic.Int64
}

type block struct {
	idx   int64
	ready chan struct{}
	data  []byte
	err   error
	elem  *list.Element
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
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.size {
			return n, io.EOF
		}
		b := r.get(pos / r.bs)
		select {
		case <-b.ready:
		case <-r.ctx.Done():
			return n, fmt.Errorf("read %s: %w", r.loc, r.ctx.Err())
		}
		if b.err != nil {
			return n, b.err
		}
		n += copy(p[n:], b.data[pos-b.idx*r.bs:])
	}
	return n, nil
}

// get returns block idx, fetching it if it is not cached, and starts
// fetching the next block (read-ahead) when that is not cached either.
func (r *S3Reader) get(idx int64) *block {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.lookup(idx)
	if next := idx + 1; next*r.bs < r.size {
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
	r.wg.Add(1)
	go r.fetch(b)
	return b
}

// evict drops the least recently used finished blocks beyond the limit;
// blocks still being fetched stay (readers are waiting for them), so the
// cache can exceed the limit by the number of fetches in flight.
func (r *S3Reader) evict() {
	for e := r.lru.Back(); e != nil && len(r.blocks) > r.max; {
		prev := e.Prev()
		b := e.Value.(*block)
		select {
		case <-b.ready:
			r.lru.Remove(e)
			delete(r.blocks, b.idx)
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
		b.err = s3Error("read", r.loc, err)
		r.forget(b)
		return
	}
	defer out.Body.Close()
	data := make([]byte, end-start)
	if _, err := io.ReadFull(out.Body, data); err != nil {
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
