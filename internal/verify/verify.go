package verify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/drmpipe/drmpipe/internal/drm"
)

// fileRef names a file, or a byte range of it, relative to the output dir.
type fileRef struct {
	path string // slash-separated, relative to outDir, cleaned
	off  int64
	n    int64 // -1 = to the end of the file
}

func (r fileRef) key() string {
	if r.n < 0 && r.off == 0 {
		return r.path
	}
	return fmt.Sprintf("%s@%d+%d", r.path, r.off, r.n)
}

func whole(p string) fileRef { return fileRef{path: p, n: -1} }

// checker holds the state of one Dir run.
type checker struct {
	ctx     context.Context
	root    string
	keys    map[drm.KeyID][]byte
	report  *Report
	tracks  map[string]*track // by init ref key
	order   []*track
	missing map[string]bool // files already reported missing
	seen    map[string]bool // problems already reported (dedup)
	refs    int             // segment references taken (see takeRef)
	opts    Options
	// evidence says how each --key was proven (see KeyReport).
	evidence keyEvidence
}

// Options are the optional checks of DirWith.
type Options struct {
	// Live holds a dynamic MPD to the rules of a live service (DASH-IF IOP
	// timing model): a UTCTiming element is required. File packagers that
	// write dynamic MPDs from files (Shaka Packager with a segment
	// template) leave it out, so it is not required by default.
	Live bool
	// FFmpeg is the ffmpeg binary (a path, or a name looked up on PATH)
	// that decodes decrypted H.264/HEVC/AV1/VP9/Opus to prove a key; "" or a binary
	// that cannot be found leaves keys that only video could prove
	// unproven (KeyUnproven).
	FFmpeg string
}

// maxRefs bounds the segment references one run follows over all
// manifests, so that a small manifest (a SegmentTemplate with a huge
// period duration in each of many Representations) cannot make verify stat
// files for hours.
const maxRefs = 1_000_000

// takeRef counts one segment reference; it returns false (and reports the
// limit once) when the run's budget is spent or its context is done.
func (c *checker) takeRef(file, where string) bool {
	c.refs++
	if c.refs%1024 == 0 && c.ctx.Err() != nil {
		return false
	}
	if c.refs > maxRefs {
		c.problem(file, where, "more than %d segment references in the output; the rest are not checked", maxRefs)
		return false
	}
	return true
}

// Dir checks every manifest found in outDir (and one directory level below
// it) and every file they reference. The error is non-nil only when outDir
// cannot be read; everything wrong with the content is a Problem.
func Dir(ctx context.Context, outDir string, keys []Key) (*Report, error) {
	return DirWith(ctx, outDir, keys, Options{})
}

// DirWith is Dir with the optional checks of opts.
func DirWith(ctx context.Context, outDir string, keys []Key, opts Options) (*Report, error) {
	entries, err := os.ReadDir(outDir)
	if err != nil {
		return nil, fmt.Errorf("verify: read output directory: %w", err)
	}
	c := &checker{
		ctx: ctx, root: outDir, keys: map[drm.KeyID][]byte{}, report: &Report{},
		tracks: map[string]*track{}, missing: map[string]bool{}, seen: map[string]bool{}, opts: opts,
	}
	for _, k := range keys {
		c.keys[k.KID] = k.Key
	}
	var mpds, m3u8s []string
	add := func(rel string) {
		switch strings.ToLower(path.Ext(rel)) {
		case ".mpd":
			mpds = append(mpds, rel)
		case ".m3u8":
			m3u8s = append(m3u8s, rel)
		}
	}
	for _, e := range entries {
		if !e.IsDir() {
			add(e.Name())
			continue
		}
		sub, err := os.ReadDir(filepath.Join(outDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("verify: read %s: %w", e.Name(), err)
		}
		for _, s := range sub {
			if !s.IsDir() {
				add(e.Name() + "/" + s.Name())
			}
		}
	}
	sort.Strings(mpds)
	sort.Strings(m3u8s)
	if len(mpds)+len(m3u8s) == 0 {
		c.problem(".", "", "no .mpd or .m3u8 manifest found")
	}
	for _, m := range mpds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c.checkMPD(m)
	}
	c.checkHLS(m3u8s)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Audio (and text) tracks first: a key that their samples or a
	// PlayReady checksum prove needs no decode (see proveByDecoding).
	for _, video := range []bool{false, true} {
		for _, t := range c.order {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if t.video == video {
				c.checkSegments(t)
			}
		}
	}
	for _, t := range c.order {
		c.report.Tracks = append(c.report.Tracks, t.rep)
	}
	c.checkKeysUsed(keys)
	return c.report, nil
}

// checkKeysUsed reports a --key whose KID no track uses (a key that
// decrypts nothing proves nothing), and, when keys were given, each
// encrypted track left without one.
func (c *checker) checkKeysUsed(keys []Key) {
	if len(keys) == 0 {
		return
	}
	used := map[drm.KeyID]bool{}
	for _, t := range c.order {
		if t.tenc == nil {
			continue
		}
		if len(t.rep.KIDs) > 1 {
			// In-band key rotation: a key per key period.
			for n, kid := range t.rep.KIDs {
				used[kid] = true
				if _, ok := c.keys[kid]; !ok {
					c.problem(t.init.path, "", "key period %d (KID %s, from the seig sample groups) has no --key; its samples are not decrypted", n, kid)
				}
			}
			continue
		}
		kid := t.kid
		if len(t.rep.KIDs) == 1 {
			kid = t.rep.KIDs[0]
		}
		used[kid] = true
		if _, ok := c.keys[kid]; !ok {
			c.problem(t.init.path, t.sinfWhere+"/schi/tenc", "track is encrypted with KID %s but no --key was given for it; its samples are not decrypted", kid)
		}
	}
	for _, k := range keys {
		if !used[k.KID] {
			c.problem(".", "--key", "key KID %s not used by any track", k.KID)
			continue
		}
		c.report.Keys = append(c.report.Keys, c.evidence.report(k.KID))
	}
}

func (c *checker) problem(file, where, format string, args ...any) {
	p := Problem{File: file, Where: where, Message: fmt.Sprintf(format, args...)}
	if c.seen[p.String()] {
		return
	}
	c.seen[p.String()] = true
	c.report.Problems = append(c.report.Problems, p)
}

// resolve joins a manifest-relative reference onto the directory of the
// manifest; it reports references that leave the output directory or are
// absolute URLs.
func (c *checker) resolve(manifest, where, ref string) (string, bool) {
	ref = strings.TrimSpace(ref)
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	if u, err := url.PathUnescape(ref); err == nil {
		ref = u
	}
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "/") {
		c.problem(manifest, where, "reference %q is not relative to the output directory; not checked", ref)
		return "", false
	}
	p := path.Clean(path.Join(path.Dir(manifest), ref))
	if p == ".." || strings.HasPrefix(p, "../") {
		c.problem(manifest, where, "reference %q points outside the output directory", ref)
		return "", false
	}
	return p, true
}

// exists reports a missing file once (as a problem of the manifest that
// references it) and returns whether it exists.
func (c *checker) exists(manifest, where, p string) bool {
	fi, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(p)))
	if err == nil && !fi.IsDir() {
		return true
	}
	if !c.missing[p] {
		c.missing[p] = true
		c.problem(manifest, where, "referenced file %s does not exist", p)
	}
	return false
}

func (c *checker) read(r fileRef) ([]byte, error) {
	f, err := os.Open(filepath.Join(c.root, filepath.FromSlash(r.path)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if r.n < 0 && r.off == 0 {
		return io.ReadAll(f)
	}
	if _, err := f.Seek(r.off, io.SeekStart); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	src := io.Reader(f)
	if r.n >= 0 {
		src = io.LimitReader(f, r.n)
	}
	if _, err := io.Copy(&buf, src); err != nil {
		return nil, err
	}
	if r.n >= 0 && int64(buf.Len()) != r.n {
		return nil, fmt.Errorf("byte range %d+%d exceeds the file", r.off, r.n)
	}
	return buf.Bytes(), nil
}
