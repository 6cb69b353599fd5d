package interop

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/testtools"
)

// rotationKeys returns n test keys per track type of ks (one slot, or
// AUDIO, SD and HD): distinct KIDs derived from the slot's key of
// helpers_test.go by the period index in the last byte.
func rotationKeys(ks keySet, n int) map[string][]kidKey {
	slots := map[string]kidKey{"ALL": singleKey}
	if ks.perType {
		slots = typeKeys
	}
	out := map[string][]kidKey{}
	for typ, k := range slots {
		for p := range n {
			out[typ] = append(out[typ], kidKey{k.kid[:30] + fmt.Sprintf("%02x", 0xe0+p), k.key[:30] + fmt.Sprintf("%02x", 0xe0+p)})
		}
	}
	return out
}

// keyPeriod is one key period of a packaged track as its HLS media
// playlist lists it: the EXT-X-MAP init segment and the segments up to the
// next EXT-X-MAP.
type keyPeriod struct {
	init string
	segs []string
	kid  string // the KID the period's segments are encrypted with (hex)
}

// playlistPeriods reads the key periods of a track from its media playlist.
func playlistPeriods(t *testing.T, dir string) []keyPeriod {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "playlist.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []keyPeriod
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, `#EXT-X-MAP:URI="`):
			name := strings.TrimSuffix(strings.TrimPrefix(line, `#EXT-X-MAP:URI="`), `"`)
			out = append(out, keyPeriod{init: filepath.Join(dir, name)})
		case line != "" && !strings.HasPrefix(line, "#"):
			if len(out) == 0 {
				t.Fatalf("%s: segment %s before any EXT-X-MAP", dir, line)
			}
			out[len(out)-1].segs = append(out[len(out)-1].segs, filepath.Join(dir, line))
		}
	}
	return out
}

// TestKeyRotation is the proof of --key-period (period signaling): for
// both schemes and both keyings, every key period of every track decrypts
// with ffmpeg and with Shaka Packager (the period's init segment and
// segments, the period's key) to the clear input's packets of that span;
// the periods in order reproduce the whole input; consecutive periods have
// different KIDs; a period's key does not decrypt the next period; and
// drmpipe verify accepts the output given every period's key.
func TestKeyRotation(t *testing.T) {
	const periods = 3 // a 10 s input, 2 s segments, 4 s key periods: 0-4, 4-8, 8-10
	for _, scheme := range []string{"cbcs", "cenc"} {
		for _, ks := range keySets {
			t.Run(scheme+"/"+ks.name, func(t *testing.T) {
				t.Parallel()
				inputs := []string{testtools.SampleClip(t)}
				if ks.perType {
					inputs = append(inputs, inputSets[0].sd(t))
				}
				keys := rotationKeys(ks, periods)
				out := filepath.Join(t.TempDir(), "out")
				args := []string{"package", "-o", out, "--segment-duration", "2s", "--key-period", "4s",
					"--scheme", scheme, "--drm", drmsFor(scheme)}
				verifyArgs := []string{"verify"}
				for _, typ := range slices.Sorted(maps.Keys(keys)) {
					for _, k := range keys[typ] {
						if typ == "ALL" {
							args = append(args, "--key", k.flag())
						} else {
							args = append(args, "--key", typ+"="+k.flag())
						}
						verifyArgs = append(verifyArgs, "--key", k.flag())
					}
				}
				mustRun(t, append(args, inputs...)...)
				mustRun(t, append(verifyArgs, out)...)

				streams := inputStreams(t, inputs)
				dirs, err := filepath.Glob(filepath.Join(out, "*", "init_p0.mp4"))
				if err != nil || len(dirs) != len(streams) {
					t.Fatalf("%d tracks with init_p0.mp4 for %d input streams (%v)", len(dirs), len(streams), err)
				}
				for _, initP0 := range dirs {
					dir := filepath.Dir(initP0)
					t.Run(filepath.Base(dir), func(t *testing.T) {
						checkRotatedTrack(t, periodInits(t, dir, scheme), ks, keys, streams, periods)
					})
				}
			})
		}
	}
}

// periodInits reads the key periods of a track under period signaling from
// its playlist: each has its own init segment init_p<n>.mp4, whose tenc
// gives the scheme and the period's KID.
func periodInits(t *testing.T, dir, scheme string) []keyPeriod {
	kps := playlistPeriods(t, dir)
	for n := range kps {
		kp := &kps[n]
		if want := filepath.Join(dir, fmt.Sprintf("init_p%d.mp4", n)); kp.init != want {
			t.Errorf("period %d: EXT-X-MAP %s, want %s", n, kp.init, want)
		}
		prot := testtools.ReadProtection(t, kp.init)
		if prot.Scheme != scheme {
			t.Errorf("period %d: %s: scheme %s, want %s", n, filepath.Base(kp.init), prot.Scheme, scheme)
		}
		kp.kid = prot.KID
	}
	return kps
}

// checkRotatedTrack proves the key periods of one track: each period (its
// init segment and segments) decrypts with ffmpeg and Shaka Packager under
// the period's key to the clear input's packets of that span, the previous
// period's key does not decrypt it, consecutive periods have different
// KIDs, and the periods in order give the whole input.
func checkRotatedTrack(t *testing.T, kps []keyPeriod, ks keySet, keys map[string][]kidKey, streams []stream, periods int) {
	if len(kps) != periods {
		t.Fatalf("%d key periods, want %d", len(kps), periods)
	}
	var in stream
	var clear []string
	var all []string // packets of every period in order
	for n, kp := range kps {
		part := filepath.Join(t.TempDir(), fmt.Sprintf("p%d.mp4", n))
		concat(t, part, append([]string{kp.init}, kp.segs...))
		if n == 0 {
			outs := probeStreams(t, part)
			if len(outs) != 1 {
				t.Fatalf("%d streams in the track", len(outs))
			}
			in = matchInput(t, outs[0], streams)
			clear = clearMD5(t, in)
		}
		slot := "ALL"
		if ks.perType {
			slot = trackType(in)
		}
		want := keys[slot][n]
		if kp.kid != want.kid {
			t.Errorf("period %d: KID %s, want %s", n, kp.kid, want.kid)
		}
		if n > 0 && kps[n-1].kid == kp.kid {
			t.Errorf("periods %d and %d share KID %s", n-1, n, kp.kid)
		}
		samples := 0
		for _, s := range kp.segs {
			samples += len(testtools.SegmentSamples(t, kp.init, s))
		}
		off := len(all)
		if off+samples > len(clear) {
			t.Fatalf("period %d: %d samples after %d, input has %d", n, samples, off, len(clear))
		}
		span := clear[off : off+samples]

		got := testtools.FrameMD5(t, part, "0", want.key)
		if !slices.Equal(got, span) {
			t.Errorf("period %d: ffmpeg-decrypted packets vs clear packets %d..%d: %s", n, off, off+samples, firstDiff(got, span))
		}
		dec := filepath.Join(t.TempDir(), fmt.Sprintf("p%d_shaka.mp4", n))
		// Shaka Packager's decryptor, like ffmpeg's, takes the key by the
		// init segment's tenc default_KID (and the tenc IV) and ignores seig
		// groups: under in-band signaling the period's key goes under the
		// first period's KID, as ffmpeg gets it as its one -decryption_key.
		tencKID := testtools.ReadProtection(t, kp.init).KID
		testtools.ShakaDecrypt(t, part, dec, map[string]string{tencKID: want.key})
		if got := testtools.FrameMD5(t, dec, "0", ""); !slices.Equal(got, span) {
			t.Errorf("period %d: Shaka-decrypted packets vs clear packets %d..%d: %s", n, off, off+samples, firstDiff(got, span))
		}
		if n > 0 {
			// The previous period's key must not decrypt this one.
			got := testtools.EncryptedFrameMD5(t, part, "0", keys[slot][n-1].key)
			if same := testtools.SameFrames(got, span); same*2 > samples {
				t.Errorf("period %d: the key of period %d decrypts %d of %d packets", n, n-1, same, samples)
			}
		}
		all = append(all, got...)
	}
	if !slices.Equal(all, clear) {
		t.Errorf("the periods in order vs the whole clear input: %s", firstDiff(all, clear))
	}
}

// concat writes the files of parts, in order, to dst.
func concat(t *testing.T, dst string, parts []string) {
	t.Helper()
	var b []byte
	for _, p := range parts {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, data...)
	}
	write(t, dst, b)
}

// TestKeyRotationStore: with keys from the key store, every (slot, key
// period) gets its own key, and packaging the same content again gives the
// same KIDs in every period (the store's (content, track type, period)
// slots), so licenses issued for the first run still play the second.
func TestKeyRotationStore(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	kids := func(run string) map[string]string {
		out := filepath.Join(t.TempDir(), run)
		mustRun(t, "package", "-q", "-o", out, "--data", data, "--content-id", "rotation-store",
			"--keys-per", "track-type", "--key-period", "4s", "--segment-duration", "2s", testtools.SampleClip(t))
		inits, err := filepath.Glob(filepath.Join(out, "*", "init_p*.mp4"))
		if err != nil || len(inits) != 6 {
			t.Fatalf("%d init segments, want 3 key periods x 2 tracks (%v)", len(inits), err)
		}
		m := map[string]string{}
		for _, p := range inits {
			m[filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p)] = testtools.ReadProtection(t, p).KID
		}
		return m
	}
	first, second := kids("first"), kids("second")
	if !maps.Equal(first, second) {
		t.Errorf("KIDs differ between two runs of one content:\n%v\n%v", first, second)
	}
	seen := map[string]string{}
	for name, kid := range first {
		if prev, dup := seen[kid]; dup {
			t.Errorf("%s and %s share KID %s: each slot and key period needs its own key", prev, name, kid)
		}
		seen[kid] = name
	}
}

// TestKeyRotationDual: --dual with period signaling: both segment sets
// have an init segment per key period, and every period of every track of
// each set (cbcs for HLS, cenc for DASH) decrypts with ffmpeg and Shaka
// Packager under its period's key; verify accepts the output.
func TestKeyRotationDual(t *testing.T) {
	t.Parallel()
	const periods = 3
	ks := keySets[0]
	in := testtools.SampleClip(t)
	keys := rotationKeys(ks, periods)
	out := packageRotated(t, in, keys["ALL"], "--dual")
	streams := inputStreams(t, []string{in})
	inits, err := filepath.Glob(filepath.Join(out, "cbcs", "*", "init_p0.mp4"))
	if err != nil || len(inits) != len(streams) {
		t.Fatalf("%d cbcs tracks with init_p0.mp4 for %d input streams (%v)", len(inits), len(streams), err)
	}
	for _, init0 := range inits {
		dir := filepath.Dir(init0)
		// HLS lists the cbcs set; the cenc set has the same segment
		// numbers and init_p<n>.mp4 names.
		cbcs := periodInits(t, dir, "cbcs")
		cenc := make([]keyPeriod, len(cbcs))
		cencDir := filepath.Join(out, "cenc", filepath.Base(dir))
		for n, kp := range cbcs {
			cenc[n].init = filepath.Join(cencDir, filepath.Base(kp.init))
			for _, s := range kp.segs {
				cenc[n].segs = append(cenc[n].segs, filepath.Join(cencDir, filepath.Base(s)))
			}
			prot := testtools.ReadProtection(t, cenc[n].init)
			if prot.Scheme != "cenc" {
				t.Errorf("%s: scheme %s, want cenc", cenc[n].init, prot.Scheme)
			}
			cenc[n].kid = prot.KID
		}
		for set, kps := range map[string][]keyPeriod{"cbcs": cbcs, "cenc": cenc} {
			t.Run(set+"/"+filepath.Base(dir), func(t *testing.T) {
				checkRotatedTrack(t, kps, ks, keys, streams, periods)
			})
		}
	}
}

// packageRotated packages in with 2 s segments and 4 s key periods, one
// --key per period from keys, and the extra flags, checks the output with
// drmpipe verify given every key, and returns the output directory.
func packageRotated(t *testing.T, in string, keys []kidKey, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	args := append([]string{"package", "-q", "-o", out, "--segment-duration", "2s", "--key-period", "4s"}, extra...)
	verifyArgs := []string{"verify"}
	for _, k := range keys {
		args = append(args, "--key", k.flag())
		verifyArgs = append(verifyArgs, "--key", k.flag())
	}
	mustRun(t, append(args, in)...)
	mustRun(t, append(verifyArgs, out)...)
	return out
}
