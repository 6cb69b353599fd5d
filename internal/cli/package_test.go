package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drmpipe/drmpipe/internal/packager"
	"github.com/drmpipe/drmpipe/internal/testtools"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	testKID = "00112233445566778899aabbccddeeff"
	testKey = "0123456789abcdef0123456789abcdef"
	testIV  = "000102030405060708090a0b0c0d0e0f"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// rotKey is a --key value for key period n of a rotation case (test-only key).
func rotKey(n int) string {
	return fmt.Sprintf("%032x:%032x", 0xa0+n, 0xb0+n)
}

// TestPackageArguments is the table of argument cases of `drmpipe package`:
// each bad invocation fails with a message naming the problem and leaves no
// output directory behind.
func TestPackageArguments(t *testing.T) {
	clip := testtools.SampleClip(t)
	notMP4 := filepath.Join(t.TempDir(), "notes.mp4")
	os.WriteFile(notMP4, []byte("this is not a movie"), 0o644)
	aFile := filepath.Join(t.TempDir(), "file")
	os.WriteFile(aFile, []byte("x"), 0o644)
	key := "--key=" + testKID + ":" + testKey
	cases := []struct {
		name    string
		args    []string
		wantErr string // substring of stderr; "" = success
	}{
		{"no input", []string{"package", "-o", "OUT", key}, "requires at least 1 arg"},
		{"no output", []string{"package", key, clip}, "no output directory"},
		{"no key", []string{"package", "-o", "OUT", clip}, "no content key"},
		{"short key", []string{"package", "-o", "OUT", "--key", testKID + ":0011", clip}, "has 2 bytes, want 16"},
		{"short kid", []string{"package", "-o", "OUT", "--key", "0011:" + testKey, clip}, "KID: want 16 bytes"},
		{"key not hex", []string{"package", "-o", "OUT", "--key", testKID + ":zz", clip}, "not hex"},
		{"bad track type", []string{"package", "-o", "OUT", "--key", "4K=" + testKID + ":" + testKey, clip}, `track type "4K"`},
		{"all and typed", []string{"package", "-o", "OUT", key, "--key", "HD=" + testKID + ":" + testKey, clip}, "cannot be combined"},
		{"bad scheme", []string{"package", "-o", "OUT", key, "--scheme", "cbc1", clip}, "unknown protection scheme"},
		{"fairplay with cenc", []string{"package", "-o", "OUT", key, "--scheme", "cenc", "--drm", "fairplay", clip}, "FairPlay requires the cbcs scheme"},
		{"bad drm", []string{"package", "-o", "OUT", key, "--drm", "widevine,marlin", clip}, `unknown DRM system "marlin"`},
		{"iv wrong size cbcs", []string{"package", "-o", "OUT", key, "--iv", "0011223344556677", clip}, "must be 16 bytes for cbcs"},
		{"iv wrong size cenc", []string{"package", "-o", "OUT", key, "--scheme", "cenc", "--iv", testIV, clip}, "must be 8 bytes for cenc"},
		{"bad fairplay uri", []string{"package", "-o", "OUT", key, "--fairplay-key-uri", "https://x", clip}, "skd://"},
		{"dual with scheme", []string{"package", "-o", "OUT", key, "--dual", "--scheme", "cenc", clip}, "do not combine"},
		{"not mp4", []string{"package", "-o", "OUT", key, notMP4}, notMP4 + ": not an ISO BMFF/MP4 file"},
		{"missing input", []string{"package", "-o", "OUT", key, "/nonexistent/in.mp4"}, "/nonexistent/in.mp4"},
		{"output is a file", []string{"package", "-o", aFile, key, clip}, "exists and is not a directory"},
		{"segment too short", []string{"package", "-o", "OUT", key, "--segment-duration", "10ms", clip}, "segment duration"},
		{"two keys without key period", []string{"package", "-o", "OUT", key, "--key", rotKey(1), clip}, "need --key-period"},
		{"key period zero", []string{"package", "-o", "OUT", key, "--key-period", "0s", clip}, "want a positive duration"},
		{"key period clear", []string{"package", "-o", "OUT", "--clear", "--key-period", "4s", clip}, "needs keys"},
		{"key period shorter than segment", []string{"package", "-o", "OUT", key, "--key-period", "1s", clip}, "shorter than the segment duration"},
		{"key period too few keys", []string{"package", "-o", "OUT", key, "--key", rotKey(1), "--key-period", "4s", clip}, "key period 2 of track type"},
		{"key period same key twice", []string{"package", "-o", "OUT", key, key, "--key-period", "4s", clip}, "given twice"},
		{"speke period timing unknown", []string{"package", "-o", "OUT", "--speke", "http://127.0.0.1:1/speke/v2/copyProtection", "--content-id", "c", "--key-period", "4s", "--speke-period-timing", "wallclock", clip}, `--speke-period-timing: invalid SPEKE configuration: key period timing "wallclock" (want index, offsets or start-end)`},
		{"speke period times without rotation", []string{"package", "-o", "OUT", "--speke", "http://127.0.0.1:1/speke/v2/copyProtection", "--content-id", "c", "--speke-period-timing", "offsets", clip}, "needs --key-period and --speke-version 2"},
		{"speke period times with v1", []string{"package", "-o", "OUT", "--speke", "http://127.0.0.1:1/speke/v1/copyProtection", "--speke-version", "1", "--content-id", "c", "--key-period", "4s", "--speke-period-timing", "start-end", clip}, "needs --key-period and --speke-version 2"},
		{"rotation signaling unknown", []string{"package", "-o", "OUT", key, "--key", rotKey(1), "--key-period", "4s", "--rotation-signaling", "moof", clip}, `rotation signaling "moof"`},
		{"rotation signaling without key period", []string{"package", "-o", "OUT", key, "--rotation-signaling", "inband", clip}, "inband needs --key-period"},
		{"ok inband", []string{"package", "-q", "-o", "OUT", key, "--key", rotKey(1), "--key", rotKey(2), "--key-period", "4s", "--rotation-signaling", "inband", clip}, ""},
		{"ok key period", []string{"package", "-q", "-o", "OUT", key, "--key", rotKey(1), "--key", rotKey(2), "--key-period", "4s", clip}, ""},
		{"ok cenc default drms", []string{"package", "-q", "-o", "OUT", key, "--scheme", "cenc", clip}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "OUT", out)
			}
			code, _, stderr := run(t, args...)
			if tc.wantErr == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				return
			}
			if code == 0 {
				t.Fatalf("exit 0, want failure with %q", tc.wantErr)
			}
			if !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantErr)
			}
			if strings.Contains(stderr, testKey) {
				t.Errorf("stderr echoes the key")
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("output directory left behind")
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".out*"))
			if len(left) > 0 {
				t.Errorf("staging directory left behind: %v", left)
			}
		})
	}
}

// TestPackageTextTracks: the mov_text (tx3g) track of an input and a
// sidecar given with --text FILE:lang=..,name=.. become clear text tracks
// (no "not packaged" warning any more), and drmpipe verify accepts them.
func TestPackageTextTracks(t *testing.T) {
	clip := testtools.MakeClip(t, testtools.ClipOptions{Width: 320, Height: 180, Seconds: 2, Audio: "aac", Subtitles: true})
	vtt := filepath.Join(t.TempDir(), "subs:fr.vtt") // a colon in the name
	if err := os.WriteFile(vtt, []byte("WEBVTT\n\n00:00.500 --> 00:01.500\nbonjour\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := run(t, "package", "-q", "-o", out, "--key", testKID+":"+testKey, "--text", vtt+":lang=fr,name=Français", clip)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "not packaged") {
		t.Errorf("stderr %q: the tx3g track is packaged now", stderr)
	}
	for _, want := range []string{"packaged 4 track(s)", "text               wvtt             TEXT", "text_fr            wvtt             TEXT"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout %q lacks %q", stdout, want)
		}
	}
	mpd, err := os.ReadFile(filepath.Join(out, "manifest.mpd"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mpd), "<Label>Français</Label>") || !strings.Contains(string(mpd), `lang="fr" contentType="text"`) {
		t.Errorf("MPD lacks the French text AdaptationSet:\n%s", mpd)
	}
	code, stdout, stderr = run(t, "verify", out)
	if code != 0 || !strings.Contains(stdout, "text_fr") {
		t.Errorf("verify: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestParseTextFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want packager.TextInput
	}{
		{"a.vtt", packager.TextInput{Path: "a.vtt"}},
		{"a.vtt:lang=en", packager.TextInput{Path: "a.vtt", Language: "en"}},
		{"dir:x/a.vtt:lang=pt-BR,name=Português", packager.TextInput{Path: "dir:x/a.vtt", Language: "pt-BR", Name: "Português"}},
		{"c:a.vtt", packager.TextInput{Path: "c:a.vtt"}},
		{"a.vtt:lang=en,size=2", packager.TextInput{Path: "a.vtt:lang=en,size=2"}},
	} {
		if got := parseTextFlag(tc.in); got != tc.want {
			t.Errorf("parseTextFlag(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestGoldenManifests packages the bundled clip with a fixed key and IV:
// the output is then deterministic and its manifests are compared with the
// golden files in testdata/golden (rewrite with -update after a deliberate
// change, and review the diff).
func TestGoldenManifests(t *testing.T) {
	clip := testtools.SampleClip(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"cbcs", []string{"--scheme", "cbcs", "--iv", testIV, "--playready-la-url", "https://pr.example/rightsmanager.asmx", "--clearkey-la-url", "https://ck.example/license"}},
		{"cenc", []string{"--scheme", "cenc", "--iv", testIV[:16], "--widevine-provider", "drmpipe", "--widevine-content-id", "sample"}},
		{"dual_clear_lead", []string{"--dual", "--iv", testIV, "--clear-lead", "4s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"package", "-q", "-o", out, "--key", testKID + ":" + testKey}, tc.args...)
			if code, _, stderr := run(t, append(args, clip)...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var files []string
			filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
				if err == nil && (strings.HasSuffix(p, ".mpd") || strings.HasSuffix(p, ".m3u8")) {
					files = append(files, p)
				}
				return err
			})
			if len(files) < 4 {
				t.Fatalf("only %d manifests written", len(files))
			}
			for _, f := range files {
				rel, _ := filepath.Rel(out, f)
				golden := filepath.Join("testdata", "golden", tc.name, rel)
				got, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if *update {
					os.MkdirAll(filepath.Dir(golden), 0o755)
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from %s", rel, golden)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "drmpipe ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

// TestPackageSystemsFromConfig: without --drm, drmpipe package signals the
// DRMs of speke.systems in the configuration file (the config's SPEKE
// section is SPEKE's own Config; before, speke.systems was loaded and
// validated but nothing read it).
func TestPackageSystemsFromConfig(t *testing.T) {
	clip := testtools.SampleClip(t)
	cfgFile := filepath.Join(t.TempDir(), "drmpipe.yaml")
	if err := os.WriteFile(cfgFile, []byte("speke:\n  systems: [widevine, clearkey]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := run(t, "package", "-q", "--config", cfgFile, "--data", t.TempDir(), "-o", out, "--key="+testKID+":"+testKey, clip)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mpd, err := os.ReadFile(filepath.Join(out, "manifest.mpd"))
	if err != nil {
		t.Fatal(err)
	}
	for sys, want := range map[string]bool{
		"edef8ba9-79d6-4ace-a3c8-27dcd51d21ed": true,  // Widevine
		"e2719d58-a985-b3c9-781a-b030af78d30e": true,  // ClearKey
		"9a04f079-9840-4286-ab92-e65be0885f95": false, // PlayReady
	} {
		if got := strings.Contains(strings.ToLower(string(mpd)), sys); got != want {
			t.Errorf("MPD signals %s: %v, want %v", sys, got, want)
		}
	}
}
