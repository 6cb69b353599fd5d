package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// mutate copies src to a new file in dir after applying fn to its bytes.
func mutate(t *testing.T, src, dir, name string, fn func([]byte) []byte) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, fn(bytes.Clone(data)), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// boxAt returns the offset of the first box of type typ found by scanning
// for its 4CC (good enough for the small, known files generated here).
func boxAt(t *testing.T, data []byte, typ string) int {
	t.Helper()
	i := bytes.Index(data, []byte(typ))
	if i < 4 {
		t.Fatalf("box %q not found", typ)
	}
	return i - 4
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	// moov at the end (default) and moov first (faststart).
	base := filepath.Join(dir, "base.mp4")
	ffmpeg(t, concat(lavfiInputs, h264Args, []string{"-c:a", "aac", "-ac", "2", base})...)
	fast := filepath.Join(dir, "fast.mp4")
	ffmpeg(t, "-i", base, "-c", "copy", "-movflags", "+faststart", fast)
	frag := filepath.Join(dir, "frag.mp4")
	ffmpeg(t, "-i", base, "-c", "copy", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", frag)
	mpeg4 := filepath.Join(dir, "mp4v.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1", "-c:v", "mpeg4", mpeg4)
	enc := filepath.Join(dir, "enc.mp4")
	ffmpeg(t, "-i", base, "-c", "copy", "-encryption_scheme", "cenc-aes-ctr",
		"-encryption_key", "00112233445566778899aabbccddeeff", "-encryption_kid", "ffeeddccbbaa99887766554433221100", enc)
	size := func(p string) int64 {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	fastSize := size(fast)

	cases := []struct {
		name    string
		path    string
		want    error
		contain []string
	}{
		{"empty", mutate(t, base, dir, "empty", func([]byte) []byte { return nil }), ErrNotMP4, nil},
		{"text", mutate(t, base, dir, "text", func([]byte) []byte { return []byte("hello, this is not a video file at all\n") }), ErrNotMP4, []string{"not an ISO BMFF/MP4 file"}},
		{"garbage", mutate(t, base, dir, "garbage", func([]byte) []byte {
			b := make([]byte, 4096)
			rand.New(rand.NewSource(1)).Read(b)
			return b
		}), ErrNotMP4, nil},
		{"ftyp_only", mutate(t, base, dir, "ftyp_only", func(d []byte) []byte {
			return d[:binary.BigEndian.Uint32(d)]
		}), ErrNotMP4, []string{"no moov box"}},
		// moov is at the end: cutting the file cuts the mdat.
		{"truncated_mdat", mutate(t, base, dir, "truncated_mdat", func(d []byte) []byte { return d[:len(d)/2] }),
			ErrTruncated, []string{"box 'mdat' at offset", "needs", "file has"}},
		{"truncated_faststart", mutate(t, fast, dir, "truncated_faststart", func(d []byte) []byte { return d[:len(d)-1000] }),
			ErrTruncated, []string{"box 'mdat'", "file has " + strconv.FormatInt(fastSize-1000, 10)}},
		// Cut the mdat and shrink its size field so the box structure is
		// consistent: the sample table now points past the end of the file.
		{"sample_beyond_eof", mutate(t, fast, dir, "sample_beyond_eof", func(d []byte) []byte {
			m := boxAt(t, d, "mdat")
			d = d[:len(d)-1000]
			binary.BigEndian.PutUint32(d[m:], uint32(len(d)-m))
			return d
		}), ErrTruncated, []string{"sample", "file has"}},
		{"truncated_fragment", mutate(t, frag, dir, "truncated_fragment", func(d []byte) []byte { return d[:len(d)-10] }), ErrTruncated, nil},
		{"encrypted", enc, ErrEncryptedInput, []string{"encv"}},
		{"unsupported_codec", mpeg4, ErrUnsupportedCodec, []string{"mp4v", "track 1"}},
		// Empty the video stss: an entry_count of 0 says no sample is a sync sample.
		{"no_sync_sample", mutate(t, base, dir, "no_sync", func(d []byte) []byte {
			return testtools.EditMoov(t, d, func(m *mp4.MoovBox) {
				m.Traks[0].Mdia.Minf.Stbl.Stss.SampleNumber = nil
			})
		}), ErrNoSyncSample, []string{"track 1"}},
		// An stss entry naming sample 0, which does not exist (samples count from 1).
		{"stss_sample_0", mutate(t, base, dir, "stss_sample_0", func(d []byte) []byte {
			binary.BigEndian.PutUint32(d[boxAt(t, d, "stss")+16:], 0)
			return d
		}), ErrMalformed, []string{"track 1: stss entry 1 is sample 0"}},
		// Turn both handlers into timed metadata: no video or audio track left.
		{"no_tracks", mutate(t, base, dir, "no_tracks", func(d []byte) []byte {
			for _, h := range []string{"vide", "soun"} {
				i := bytes.Index(d, []byte("hdlr\x00\x00\x00\x00\x00\x00\x00\x00"+h))
				if i < 0 {
					t.Fatalf("hdlr %s not found", h)
				}
				copy(d[i+12:], "meta")
			}
			return d
		}), ErrNoTracks, nil},
		// Rewrite the first stsz as a uniform-size box declaring 2^32-1
		// samples (the freed table bytes become a free box): the count must
		// be rejected before anything is allocated for it.
		{"stsz_huge_count", mutate(t, base, dir, "stsz_huge_count", func(d []byte) []byte {
			s := boxAt(t, d, "stsz")
			old := int(binary.BigEndian.Uint32(d[s:]))
			binary.BigEndian.PutUint32(d[s:], 20)
			binary.BigEndian.PutUint32(d[s+12:], 1000)
			binary.BigEndian.PutUint32(d[s+16:], 0xffffffff)
			binary.BigEndian.PutUint32(d[s+20:], uint32(old-20))
			copy(d[s+24:], "free")
			return d
		}), ErrTruncated, []string{"stsz declares 4294967295 samples"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Open(c.path)
			if err == nil {
				f.Close()
				t.Fatalf("Open succeeded, want error %v", c.want)
			}
			t.Log(err)
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %q does not wrap %v", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), c.path+": ") {
				t.Errorf("error %q does not start with the file name", err)
			}
			for _, s := range c.contain {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}
