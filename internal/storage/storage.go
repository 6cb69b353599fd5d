// Package storage is where packaging inputs come from and where packaged
// output goes: local files and S3-compatible object storage
// (s3://bucket/prefix). Inputs are random-access readers (ranged GETs over
// S3, so memory stays bounded and nothing is downloaded whole); an output
// takes media files first and manifests last, so a manifest never points at
// a file that is not there yet.
package storage

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Scheme is the URL scheme of S3 locations.
const Scheme = "s3://"

// IsS3 reports whether loc is an s3:// location.
func IsS3(loc string) bool { return strings.HasPrefix(loc, Scheme) }

// S3Location is a parsed s3://bucket/key-or-prefix.
type S3Location struct {
	Bucket string
	// Key is the object key (inputs) or the prefix without a trailing
	// slash (outputs); "" is the bucket root.
	Key string
}

func (l S3Location) String() string {
	if l.Key == "" {
		return Scheme + l.Bucket
	}
	return Scheme + l.Bucket + "/" + l.Key
}

// ParseS3 parses s3://bucket/key. The bucket name follows the S3 naming
// rules (3-63 characters of lower-case letters, digits, '.' and '-'); the
// key may not contain empty, "." or ".." segments, so that an output prefix
// cannot reach outside itself.
func ParseS3(loc string) (S3Location, error) {
	rest, ok := strings.CutPrefix(loc, Scheme)
	if !ok {
		return S3Location{}, fmt.Errorf("%w: %q is not an s3:// location", ErrConfig, loc)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if err := checkBucket(bucket); err != nil {
		return S3Location{}, fmt.Errorf("%w: %s: %w", ErrConfig, loc, err)
	}
	key = strings.TrimSuffix(key, "/")
	if key != "" {
		if err := checkName(key); err != nil {
			return S3Location{}, fmt.Errorf("%w: %s: %w", ErrConfig, loc, err)
		}
	}
	return S3Location{Bucket: bucket, Key: key}, nil
}

func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must have 3 to 63 characters", b)
	}
	for _, c := range b {
		lower, digit := c >= 'a' && c <= 'z', c >= '0' && c <= '9'
		if !lower && !digit && c != '.' && c != '-' {
			return fmt.Errorf("bucket name %q may hold only lower-case letters, digits, '.' and '-'", b)
		}
	}
	return nil
}

// checkName refuses names with empty, "." or ".." segments or a leading
// slash.
func checkName(name string) error {
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("key %q has an empty, '.' or '..' segment", name)
		}
	}
	return nil
}

// Input is one opened input: random access with ReadAt (safe for
// concurrent use), its size, and Close.
type Input interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// File is one output file: a slash-separated name relative to the output
// root, and its bytes.
type File struct {
	Name string
	Data []byte
}

// Output is the destination of one packaging run.
//
// The run writes every media file (init segments, media segments, WebVTT
// segments) with Write, then hands the manifests to Publish, which stores
// them only after every media file is stored, in the order given (media
// playlists before the MPD and the multivariant playlist). A run that fails
// or is interrupted before Publish returns exposes no new manifest.
type Output interface {
	// Write stores a media file made of parts at name. It may return
	// before the file is stored (an upload in flight); Publish waits for
	// every Write and reports the first failure. Safe for concurrent use;
	// parts may be reused by the caller once Write returns.
	Write(ctx context.Context, name string, parts ...[]byte) error
	// Publish waits for the media files, stores manifests in order, then
	// removes what an earlier run left that this run did not write.
	Publish(ctx context.Context, manifests []File) error
	// Close ends the run, waiting for uploads in flight; after a failed
	// or missing Publish the output exposes no manifest of this run.
	Close() error
	// Location names the output in messages.
	Location() string
}

// Opener opens inputs and S3 outputs by location: s3://bucket/key through
// S3, anything else as a local file.
type Opener struct {
	// S3 is the client for s3:// locations; nil refuses them.
	S3 *S3
}

// OpenInput opens the input at loc.
func (o Opener) OpenInput(ctx context.Context, loc string) (Input, error) {
	if !IsS3(loc) {
		return openLocal(loc)
	}
	if o.S3 == nil {
		return nil, fmt.Errorf("%w: %s: no S3 client configured", ErrConfig, loc)
	}
	l, err := ParseS3(loc)
	if err != nil {
		return nil, err
	}
	if l.Key == "" {
		return nil, fmt.Errorf("%w: %s: no object key", ErrConfig, loc)
	}
	return o.S3.OpenReader(ctx, l, ReaderOptions{})
}

// localFile is a local input.
type localFile struct {
	*os.File
	size int64
}

func (f localFile) Size() int64 { return f.size }

func openLocal(name string) (Input, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if st.IsDir() {
		_ = f.Close()
		return nil, fmt.Errorf("%s: is a directory", name)
	}
	return localFile{File: f, size: st.Size()}, nil
}

// join joins an output prefix and a name relative to it.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return path.Join(prefix, name)
}
