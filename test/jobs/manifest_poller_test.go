package jobs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// manifestPoller lists a bucket over and over while jobs write into it and
// records every manifest (.mpd, .m3u8) that was visible while a file it
// references was not: what a CDN pulling the bucket would have served as a
// broken presentation.
//
// A listing is not a snapshot: it reads keys one after the other while
// uploads go on. So a manifest first seen in listing k is checked against
// listing k+1 and every later one, never against k itself: the manifest
// was there before listing k+1 began (uploads only add objects here), so a
// referenced key missing from k+1 was missing at a moment the manifest was
// visible. Checking against k would accuse a segment uploaded before the
// manifest but after the listing passed its key.
type manifestPoller struct {
	s3     *s3.Client
	bucket string

	mu         sync.Mutex
	listings   int
	refs       map[string][]string // manifest key -> keys it references
	checked    map[string]int      // manifest key -> listings it passed
	violations []string
}

func newManifestPoller(gw *testtools.VersityGW, bucket string) *manifestPoller {
	return &manifestPoller{s3: gw.Client(), bucket: bucket, refs: map[string][]string{}, checked: map[string]int{}}
}

// run polls until ctx ends; stop with the returned function, which waits
// for the loop to end.
func (p *manifestPoller) run(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			p.once(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() { cancel(); <-done }
}

// once is one listing: check the manifests of earlier listings against it,
// then read the manifests new in it.
func (p *manifestPoller) once(ctx context.Context) {
	keys, err := p.list(ctx)
	if err != nil {
		return // the store paused or stopped: the next listing checks
	}
	p.mu.Lock()
	p.listings++
	for m, refs := range p.refs {
		if !keys[m] {
			continue // not the subject here: manifests are never deleted in these runs
		}
		var missing []string
		for _, r := range refs {
			if !keys[r] {
				missing = append(missing, r)
			}
		}
		if len(missing) > 0 {
			p.violations = append(p.violations, fmt.Sprintf("%s visible without %s (listing %d)", m, strings.Join(missing, ", "), p.listings))
		}
		p.checked[m]++
	}
	p.mu.Unlock()
	for k := range keys {
		p.mu.Lock()
		_, known := p.refs[k]
		p.mu.Unlock()
		isManifest := strings.HasSuffix(k, ".mpd") || strings.HasSuffix(k, ".m3u8")
		if known || !isManifest {
			continue
		}
		refs, err := p.references(ctx, k)
		if err != nil {
			continue // read again at the next listing
		}
		p.mu.Lock()
		p.refs[k] = refs
		p.mu.Unlock()
	}
}

func (p *manifestPoller) list(ctx context.Context) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	keys := map[string]bool{}
	pg := s3.NewListObjectsV2Paginator(p.s3, &s3.ListObjectsV2Input{Bucket: aws.String(p.bucket)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys[aws.ToString(o.Key)] = true
		}
	}
	return keys, nil
}

// references reads manifest key and returns the keys of the files it
// references: for an MPD every Representation's initialization and media
// segments (SegmentTemplate with a SegmentTimeline, ISO/IEC 23009-1
// §5.3.9.4 and §5.3.9.6), for an HLS playlist its EXT-X-MAP and segment
// URIs or, for a multivariant playlist, its media playlists (RFC 8216
// §4.3.2.5, §4.3.4.1, §4.3.4.2).
func (p *manifestPoller) references(ctx context.Context, key string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := p.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return nil, err
	}
	var names []string
	if strings.HasSuffix(key, ".mpd") {
		names, err = mpdReferences(string(data))
	} else {
		names = playlistReferences(string(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s references nothing", key)
	}
	dir := path.Dir(key)
	for i, n := range names {
		names[i] = path.Join(dir, n)
	}
	return names, nil
}

func mpdReferences(doc string) ([]string, error) {
	m, err := mpd.ReadFromString(doc)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, per := range m.Periods {
		for _, as := range per.AdaptationSets {
			for _, rep := range as.Representations {
				st := rep.GetSegmentTemplate() // the Representation's, else its AdaptationSet's
				if st == nil || st.SegmentTimeline == nil {
					return nil, fmt.Errorf("representation %s: no SegmentTemplate with a SegmentTimeline", rep.Id)
				}
				expand := func(tmpl string, number uint64) string {
					s := strings.ReplaceAll(tmpl, "$RepresentationID$", rep.Id)
					return strings.ReplaceAll(s, "$Number$", strconv.FormatUint(number, 10))
				}
				names = append(names, expand(st.Initialization, 0))
				n := uint64(1)
				if st.StartNumber != nil {
					n = uint64(*st.StartNumber)
				}
				for _, s := range st.SegmentTimeline.S {
					for range s.R + 1 {
						names = append(names, expand(st.Media, n))
						n++
					}
				}
			}
		}
	}
	return names, nil
}

var uriAttr = regexp.MustCompile(`URI="([^"]+)"`)

func playlistReferences(doc string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-MAP:"), strings.HasPrefix(line, "#EXT-X-MEDIA:"), strings.HasPrefix(line, "#EXT-X-I-FRAME-STREAM-INF:"):
			if m := uriAttr.FindStringSubmatch(line); m != nil {
				names = append(names, m[1])
			}
		case strings.HasPrefix(line, "#"):
		default:
			names = append(names, line)
		}
	}
	return names
}

// listsMore waits up to d until n more listings than now are made.
func (p *manifestPoller) listsMore(n int, d time.Duration) bool {
	p.mu.Lock()
	want := p.listings + n
	p.mu.Unlock()
	return eventually(d, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.listings >= want
	})
}

// report returns the listings made, the manifests checked against at
// least one later listing, and the violations.
func (p *manifestPoller) report() (listings int, checked map[string]int, violations []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := map[string]int{}
	for k, v := range p.checked {
		c[k] = v
	}
	return p.listings, c, append([]string(nil), p.violations...)
}
