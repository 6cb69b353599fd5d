package testtools

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// FrameMD5 returns the MD5 of every packet of one stream ("v:0", "a:0", or
// an index such as "0") of file, in decode order, as ffmpeg's framemd5 muxer
// computes it with stream copy: the hash of the sample bytes as stored.
//
// When decryptionKeyHex is not empty ffmpeg decrypts the samples with that
// key (cenc or cbcs). Fragmented inputs and decryption use -seekable 0:
// without it ffmpeg 5.1 fails on init + 3 or more fragments with "subsample
// size exceeds the packet size left". Any demuxer or
// decryption error fails the test, so such a problem cannot pass silently.
// Decoder errors are ignored: ffmpeg decodes a few frames while probing, and
// encrypted (no key, wrong key) data does not decode; the hashes still are
// those of the packets.
func FrameMD5(t testing.TB, file, stream, decryptionKeyHex string) []string {
	t.Helper()
	return frameMD5(t, file, stream, decryptionKeyHex, true)
}

// EncryptedFrameMD5 is FrameMD5 of a protected track read without a key
// (wrongKeyHex empty) or with a wrong one, to prove that its packets are not
// the clear ones. Parser complaints are expected there (ffmpeg's Opus
// parser reads the still encrypted TOC byte) and are not failures.
func EncryptedFrameMD5(t testing.TB, file, stream, wrongKeyHex string) []string {
	t.Helper()
	return frameMD5(t, file, stream, wrongKeyHex, false)
}

// SameFrames counts the positions at which two FrameMD5 lists hold the same
// packet hash (a list longer than the other has no match past the other's end).
func SameFrames(a, b []string) int {
	n := 0
	for i := range a {
		if i < len(b) && a[i] == b[i] {
			n++
		}
	}
	return n
}

func frameMD5(t testing.TB, file, stream, decryptionKeyHex string, strict bool) []string {
	t.Helper()
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin"}
	if decryptionKeyHex != "" || isFragmented(t, file) {
		args = append(args, "-seekable", "0")
	}
	if decryptionKeyHex != "" {
		args = append(args, "-decryption_key", decryptionKeyHex)
	}
	args = append(args, "-i", file, "-map", "0:"+stream, "-c", "copy", "-f", "framemd5", "-")
	out, errOut := run(t, FFmpeg(t), args...)
	if msg := demuxErrors(string(errOut)); msg != "" && strict {
		t.Fatalf("testtools: FrameMD5 %s stream %s: ffmpeg reported errors:\n%s", file, stream, tail(msg, 4000))
	}
	var hashes []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < 6 {
			t.Fatalf("testtools: FrameMD5 %s: unexpected framemd5 line %q", file, line)
		}
		// stream, dts, pts, duration, size, hash[, side data...]
		hashes = append(hashes, strings.TrimSpace(f[5]))
	}
	if len(hashes) == 0 {
		t.Fatalf("testtools: FrameMD5 %s stream %s: no packets", file, stream)
	}
	return hashes
}

// decoderErrRE matches ffmpeg log lines from audio/video decoders.
var decoderErrRE = regexp.MustCompile(`^\[(h264|hevc|aac|ac3|eac3|mpeg4) @ 0x[0-9a-f]+\]`)

// demuxErrors returns the lines of an ffmpeg error log that do not come
// from a decoder.
func demuxErrors(log string) string {
	var keep []string
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		// ffmpeg collapses a repeated line into "Last message repeated N
		// times"; the line it repeats is classified on its own.
		if line != "" && !decoderErrRE.MatchString(line) && !strings.HasPrefix(line, "Last message repeated") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// isFragmented reports whether file has a top-level moof box
// (ISO/IEC 14496-12 §8.8.4). It walks box headers only.
func isFragmented(t testing.TB, file string) bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("testtools: %v", err)
	}
	defer f.Close()
	var pos int64
	hdr := make([]byte, 16)
	for {
		if _, err := f.ReadAt(hdr[:8], pos); err != nil {
			return false
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		if typ == "moof" {
			return true
		}
		switch size {
		case 0: // box extends to end of file
			return false
		case 1: // 64-bit largesize follows the type
			if _, err := f.ReadAt(hdr[8:16], pos+8); err != nil {
				return false
			}
			size = int64(binary.BigEndian.Uint64(hdr[8:16]))
		}
		if size < 8 {
			return false
		}
		pos += size
	}
}

// TrackDirs returns the track directories of a packaging output dir (those
// holding an init.mp4), sorted. It fails the test if there are none.
func TrackDirs(t testing.TB, dir string) []string {
	t.Helper()
	inits, err := filepath.Glob(filepath.Join(dir, "*", "init.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, p := range inits {
		dirs = append(dirs, filepath.Dir(p))
	}
	sort.Strings(dirs)
	if len(dirs) == 0 {
		t.Fatalf("testtools: no track directories (*/init.mp4) in %s", dir)
	}
	return dirs
}

var segNameRE = regexp.MustCompile(`^seg_([0-9]+)\.m4s$`)

// SegmentFiles returns the media segments seg_N.m4s of a track directory in
// numeric order (seg_2 before seg_10). It fails the test if there are none.
func SegmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("testtools: %v", err)
	}
	type seg struct {
		n    int
		path string
	}
	var segs []seg
	for _, e := range entries {
		m := segNameRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			t.Fatalf("testtools: segment name %s: %v", e.Name(), err)
		}
		segs = append(segs, seg{n, filepath.Join(dir, e.Name())})
	}
	if len(segs) == 0 {
		t.Fatalf("testtools: no seg_N.m4s files in %s", dir)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].n < segs[j].n })
	paths := make([]string, len(segs))
	for i, s := range segs {
		if s.n != i+1 {
			t.Fatalf("testtools: %s: segments not numbered 1..N (found seg_%d at position %d)", dir, s.n, i+1)
		}
		paths[i] = s.path
	}
	return paths
}

// ConcatTrack writes dir/init.mp4 followed by dir/seg_1.m4s, seg_2.m4s, ...
// in numeric order into one file in t.TempDir() and returns its path.
func ConcatTrack(t testing.TB, dir string) string {
	t.Helper()
	parts := append([]string{filepath.Join(dir, "init.mp4")}, SegmentFiles(t, dir)...)
	dst := filepath.Join(t.TempDir(), filepath.Base(dir)+"_concat.mp4")
	out, err := os.Create(dst)
	if err != nil {
		t.Fatalf("testtools: %v", err)
	}
	defer out.Close()
	for _, p := range parts {
		in, err := os.Open(p)
		if err != nil {
			t.Fatalf("testtools: ConcatTrack: %v", err)
		}
		_, err = io.Copy(out, in)
		in.Close()
		if err != nil {
			t.Fatalf("testtools: ConcatTrack %s: %v", p, err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatalf("testtools: ConcatTrack: %v", err)
	}
	return dst
}

// ShakaDecrypt decrypts the single-track fragmented file in with Shaka
// Packager's raw-key decryption and writes the clear result to out. keys
// maps key ID hex to key hex; Shaka picks the key by the track's KID.
func ShakaDecrypt(t testing.TB, in, out string, keys map[string]string) {
	t.Helper()
	if len(keys) == 0 {
		t.Fatalf("testtools: ShakaDecrypt: no keys")
	}
	kids := slices.Sorted(maps.Keys(keys))
	// Shaka Packager refuses repeated labels; decryption looks keys up by
	// KID, so the labels only need to differ.
	var spec []string
	for i, kid := range kids {
		spec = append(spec, fmt.Sprintf("label=k%d:key_id=%s:key=%s", i, strings.ToLower(kid), strings.ToLower(keys[kid])))
	}
	run(t, ShakaPackager(t),
		fmt.Sprintf("in=%s,stream=0,output=%s", in, out),
		"--enable_raw_key_decryption",
		"--keys", strings.Join(spec, ","),
		"--quiet")
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		t.Fatalf("testtools: ShakaDecrypt: no output written to %s", out)
	}
}

// Packet is one packet's timing as ffprobe reports it, converted from the
// stream time base to a duration (rounded to the nanosecond), so tracks with
// different timescales compare directly.
type Packet struct {
	PTS      time.Duration
	DTS      time.Duration
	Duration time.Duration
	Key      bool
	Size     int
}

// PacketTimes returns the packets of one stream ("v:0", "a:0") of file in
// decode order, via ffprobe -show_packets. Timestamps are those ffprobe
// presents, i.e. after the edit list (ISO/IEC 14496-12 §8.6.6) is applied.
func PacketTimes(t testing.TB, file, stream string) []Packet {
	t.Helper()
	return packetTimes(t, file, stream)
}

// RawPacketTimes is PacketTimes with the edit list ignored
// (-ignore_editlist 1): the composition and decode times as the file
// stores them.
func RawPacketTimes(t testing.TB, file, stream string) []Packet {
	t.Helper()
	return packetTimes(t, file, stream, "-ignore_editlist", "1")
}

func packetTimes(t testing.TB, file, stream string, extra ...string) []Packet {
	t.Helper()
	args := append([]string{"-hide_banner", "-loglevel", "error", "-select_streams", stream,
		"-show_entries", "stream=time_base:packet=pts,dts,duration,flags,size", "-of", "compact=p=1:nk=0"}, extra...)
	if isFragmented(t, file) {
		args = append(args, "-seekable", "0")
	}
	args = append(args, file)
	out, _ := run(t, FFprobe(t), args...)
	var tb *big.Rat
	var pkts []Packet
	for _, line := range strings.Split(string(out), "\n") {
		fields := map[string]string{}
		parts := strings.Split(strings.TrimSpace(line), "|")
		for _, kv := range parts[1:] {
			if k, v, ok := strings.Cut(kv, "="); ok {
				fields[k] = v
			}
		}
		switch parts[0] {
		case "stream":
			r, ok := new(big.Rat).SetString(fields["time_base"])
			if !ok {
				t.Fatalf("testtools: PacketTimes %s: bad time_base %q", file, fields["time_base"])
			}
			tb = r
		case "packet":
			size, _ := strconv.Atoi(fields["size"])
			pkts = append(pkts, Packet{
				PTS:      ticks(fields["pts"]),
				DTS:      ticks(fields["dts"]),
				Duration: ticks(fields["duration"]),
				Key:      strings.HasPrefix(fields["flags"], "K"),
				Size:     size,
			})
		}
	}
	if tb == nil || len(pkts) == 0 {
		t.Fatalf("testtools: PacketTimes %s stream %s: no stream or packets in ffprobe output", file, stream)
	}
	// Convert ticks to durations now that the time base is known.
	conv := func(d time.Duration) time.Duration {
		if d == noTime {
			return noTime
		}
		r := new(big.Rat).Mul(new(big.Rat).SetInt64(int64(d)), tb)
		r.Mul(r, big.NewRat(int64(time.Second), 1))
		f, _ := r.Float64()
		if f < 0 {
			return time.Duration(f - 0.5)
		}
		return time.Duration(f + 0.5)
	}
	for i := range pkts {
		pkts[i].PTS = conv(pkts[i].PTS)
		pkts[i].DTS = conv(pkts[i].DTS)
		pkts[i].Duration = conv(pkts[i].Duration)
	}
	return pkts
}

// noTime marks a timestamp ffprobe reports as N/A.
const noTime = time.Duration(-1 << 63)

func ticks(s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return noTime
	}
	return time.Duration(n)
}

// Protection is what a protected init segment's sinf says about its track
// (ISO/IEC 23001-7 §8.1 tenc, ISO/IEC 14496-12 §8.12 sinf/schm).
type Protection struct {
	Scheme     string // schm scheme_type: "cenc" or "cbcs"
	KID        string // tenc default_KID, lower-case hex without dashes
	CryptBlock byte   // tenc default_crypt_byte_block
	SkipBlock  byte   // tenc default_skip_byte_block
	IVSize     byte   // tenc default_Per_Sample_IV_Size
	ConstantIV string // tenc default_constant_IV, hex ("" if none)
	PSSH       []string
}

// ReadProtection parses the init segment at initPath with mp4ff and returns
// the protection of its first track. It fails the test when the track is
// not protected.
func ReadProtection(t testing.TB, initPath string) Protection {
	t.Helper()
	f := decodeMP4(t, initPath)
	if f.Init == nil || f.Init.Moov == nil || len(f.Init.Moov.Traks) == 0 {
		t.Fatalf("testtools: %s: no moov/trak", initPath)
	}
	moov := f.Init.Moov
	trak := moov.Traks[0]
	sinf := moov.GetSinf(trak.Tkhd.TrackID)
	if sinf == nil || sinf.Schm == nil || sinf.Schi == nil || sinf.Schi.Tenc == nil {
		t.Fatalf("testtools: %s: track %d has no sinf/schm/tenc", initPath, trak.Tkhd.TrackID)
	}
	tenc := sinf.Schi.Tenc
	p := Protection{
		Scheme:     sinf.Schm.SchemeType,
		KID:        hex.EncodeToString(tenc.DefaultKID),
		CryptBlock: tenc.DefaultCryptByteBlock,
		SkipBlock:  tenc.DefaultSkipByteBlock,
		IVSize:     tenc.DefaultPerSampleIVSize,
		ConstantIV: hex.EncodeToString(tenc.DefaultConstantIV),
	}
	for _, ps := range moov.Psshs {
		p.PSSH = append(p.PSSH, ps.SystemID.String())
	}
	return p
}

// SegmentSamples returns the bytes of every sample of the first track in
// one media segment, as stored in its mdat (encrypted or not), in decode
// order. initPath supplies the trex defaults (ISO/IEC 14496-12 §8.8.3).
func SegmentSamples(t testing.TB, initPath, segPath string) [][]byte {
	t.Helper()
	init := decodeMP4(t, initPath)
	if init.Init == nil || init.Init.Moov == nil || init.Init.Moov.Mvex == nil {
		t.Fatalf("testtools: %s: not a fragmented init segment (no mvex)", initPath)
	}
	var trex *mp4.TrexBox
	if trexs := init.Init.Moov.Mvex.Trexs; len(trexs) > 0 {
		trex = trexs[0]
	}
	seg := decodeMP4(t, segPath)
	var out [][]byte
	for _, s := range seg.Segments {
		for _, frag := range s.Fragments {
			fs, err := frag.GetFullSamples(trex)
			if err != nil {
				t.Fatalf("testtools: %s: %v", segPath, err)
			}
			for _, x := range fs {
				out = append(out, x.Data)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("testtools: %s: no samples", segPath)
	}
	return out
}

func decodeMP4(t testing.TB, path string) *mp4.File {
	t.Helper()
	_, f := ReadMP4(t, path)
	return f
}

// ReadMP4 reads the MP4 file at path and decodes it; it returns the file's
// bytes (progressive samples are ranges of them) and the decoded boxes.
func ReadMP4(t testing.TB, path string) ([]byte, *mp4.File) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testtools: %v", err)
	}
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("testtools: decode %s: %v", path, err)
	}
	return data, f
}

// FragmentKeys is the in-band key signaling of one fragment (DASH-IF IOP
// Part 6 §9.3): the seig sample group of its first traf and the pssh boxes
// of its moof.
type FragmentKeys struct {
	// SeigKID is the KID of the seig entry the fragment's samples belong to
	// (sbgp index 0x10001, the traf's sgpd), lower-case hex without dashes;
	// "" when the traf has no seig group.
	SeigKID string
	// PSSH are the moof's pssh boxes: system ID (UUID form) -> the KIDs
	// the box lists (version 1; hex), nil for version 0.
	PSSH map[string][]string
	// PSSHData are the pssh boxes' data by system ID.
	PSSHData map[string][]byte
}

// SegmentFragmentKeys returns the in-band key signaling of every fragment
// of one media segment.
func SegmentFragmentKeys(t testing.TB, segPath string) []FragmentKeys {
	t.Helper()
	seg := decodeMP4(t, segPath)
	var out []FragmentKeys
	for _, s := range seg.Segments {
		for _, frag := range s.Fragments {
			fk := FragmentKeys{PSSH: map[string][]string{}, PSSHData: map[string][]byte{}}
			// mp4ff keeps the traf's last sbgp and sgpd: the seig ones in
			// drmpipe's and Shaka Packager's fragments (Shaka writes a roll
			// sbgp first for AAC).
			sbgp, sgpd := frag.Moof.Traf.Sbgp, frag.Moof.Traf.Sgpd
			if sbgp != nil && sgpd != nil && sbgp.GroupingType == "seig" && sgpd.GroupingType == "seig" &&
				len(sbgp.GroupDescriptionIndices) == 1 && sbgp.GroupDescriptionIndices[0] == 0x10001 && len(sgpd.SampleGroupEntries) > 0 {
				if e, ok := sgpd.SampleGroupEntries[0].(*mp4.SeigSampleGroupEntry); ok {
					fk.SeigKID = hex.EncodeToString(e.KID)
				}
			}
			for _, p := range frag.Moof.Psshs {
				var kids []string
				for _, k := range p.KIDs {
					kids = append(kids, hex.EncodeToString(k))
				}
				fk.PSSH[p.SystemID.String()] = kids
				fk.PSSHData[p.SystemID.String()] = p.Data
			}
			out = append(out, fk)
		}
	}
	if len(out) == 0 {
		t.Fatalf("testtools: %s: no fragments", segPath)
	}
	return out
}
