package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
	"github.com/drmpipe/drmpipe/internal/media"
	"github.com/drmpipe/drmpipe/internal/observability"
	"github.com/drmpipe/drmpipe/internal/packager"
	"github.com/drmpipe/drmpipe/internal/speke"
)

type packageFlags struct {
	output          string
	texts           []string
	segmentDuration time.Duration
	scheme          string
	dual            bool
	keys            []string
	iv              string
	drms            string
	wvProvider      string
	wvContentID     string
	prLAURL         string
	ckLAURL         string
	fpKeyURI        string
	clearLead       time.Duration
	keyPeriod       time.Duration
	rotationSig     string
	psshInInit      bool
	noPSSHInInit    bool
	clear           bool
	quiet           bool
	contentID       string
	keysPer         string
	conf            configFlags
	spekeURL        string
	spekeVersion    int
	spekeToken      string
	spekeTiming     string
	speke           speke.ClientConfig // speke.client, with the --speke* flags applied
	cpixFile        string
	cpixKey         string
}

func newPackageCmd(stdout, stderr io.Writer) *cobra.Command {
	var f packageFlags
	cmd := &cobra.Command{
		Use:   "package [flags] INPUT.mp4|s3://bucket/key.mp4 [...]",
		Short: "Package MP4 renditions into encrypted CMAF with DASH and HLS manifests",
		Long: `Package cuts every audio and video track of the inputs into CMAF segments,
encrypts them with Common Encryption (cbcs by default) and writes manifest.mpd,
master.m3u8 and one directory per track (init.mp4, seg_N.m4s, playlist.m3u8).

Subtitles: timed text (mov_text/tx3g) tracks of the inputs and WebVTT files
given with --text become text tracks, never encrypted: WebVTT in CMAF (wvtt)
for DASH and segmented WebVTT (seg_N.vtt) for HLS, cut with the video.

The output is written to a hidden staging directory and moved into place when
complete, replacing a previous output in one step; a failed or interrupted run
leaves the previous output as it was, and the next run removes its staging.
Two runs on one output at the same time: the second fails.

Inputs, --text files and the output may be in S3 or an S3-compatible store:
s3://bucket/key inputs are read with ranged GETs (no full download) and
-o s3://bucket/prefix uploads media first and manifests last; a re-run
uploads only what changed and then removes what the earlier run left under
the prefix. The standard AWS environment configures it: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, and AWS_ENDPOINT_URL_S3 (or
AWS_ENDPOINT_URL) for an S3-compatible store, addressed path-style.`,
		Example: `  drmpipe package -o out --key 00112233445566778899aabbccddeeff:0123456789abcdef0123456789abcdef in.mp4
  drmpipe package -o out --key SD=KID:KEY --key HD=KID:KEY --key AUDIO=KID:KEY 360p.mp4 720p.mp4
  drmpipe package -o out --dual --key KID:KEY --clear-lead 4s in.mp4
  drmpipe package -o out --key KID:KEY --text subs.en.vtt:lang=en,name=English --text fr.vtt:lang=fr in.mp4
  drmpipe package -o s3://vod/titles/t1 --content-id t1 s3://mezzanine/t1.mp4`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPackage(cmd, f, args, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.texts, "text", nil, "WebVTT subtitle file FILE[:lang=LANG][,name=NAME] (BCP 47 language, the name players list; repeatable)")
	fl.StringArrayVar(&f.keys, "key", nil, "content key KID:KEY, or TYPE=KID:KEY per track type (AUDIO, SD, HD, UHD1, UHD2); hex")
	fl.StringVar(&f.wvProvider, "widevine-provider", "", "Widevine PSSH provider")
	fl.StringVar(&f.wvContentID, "widevine-content-id", "", "Widevine PSSH content ID")
	fl.StringVar(&f.prLAURL, "playready-la-url", "", "PlayReady license acquisition URL (in the PlayReady header and MPD)")
	fl.StringVar(&f.ckLAURL, "clearkey-la-url", "", "ClearKey license server URL (DASH dashif:Laurl)")
	fl.StringVar(&f.fpKeyURI, "fairplay-key-uri", "", "FairPlay key URI (skd://...; {kid} is replaced by the hex KID); default skd://<kid>")
	fl.StringVar(&f.rotationSig, "rotation-signaling", "period", "with --key-period: period (an init segment and DASH Period per key period, DASH-IF IOP Part 6 §9.2) or inband (one init segment; seig and pssh in every fragment, §9.3)")
	fl.BoolVar(&f.psshInInit, "pssh-in-init", false, "also write pssh boxes into init segments (default: manifests only, per DASH-IF)")
	fl.BoolVar(&f.noPSSHInInit, "no-pssh-in-init", false, "keep pssh only in the manifests (the default; explicit form)")
	fl.BoolVar(&f.clear, "clear", false, "package without encryption (no --key needed)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar")
	f.registerJobOptions(fl)
	f.conf.register(fl)
	fl.StringVar(&f.spekeURL, "speke", "", "get keys and DRM signaling from this SPEKE key provider (copyProtection URL); needs --content-id")
	fl.IntVar(&f.spekeVersion, "speke-version", speke.DefaultClientVersion, "SPEKE version: 1 or 2; overrides speke.client.version")
	fl.StringVar(&f.spekeToken, "speke-token", os.Getenv("DRMPIPE_SPEKE_TOKEN"), "bearer token for the SPEKE provider; env DRMPIPE_SPEKE_TOKEN")
	fl.StringVar(&f.spekeTiming, "speke-period-timing", "index", "with --speke and --key-period: what each ContentKeyPeriod says: index, offsets (SPEKE v2.1 @startOffset/@endOffset) or start-end (SPEKE v2.1 @start/@end, media time 0 = 1970-01-01T00:00:00Z)")
	fl.StringVar(&f.cpixFile, "cpix", "", "read keys (and signaling) from this CPIX document")
	fl.StringVar(&f.cpixKey, "cpix-key", "", "PEM private key to decrypt an encrypted CPIX document")
	return cmd
}

// registerJobOptions defines the options a packaging job (drmpipe jobs
// submit) shares with drmpipe package.
func (f *packageFlags) registerJobOptions(fl *pflag.FlagSet) {
	fl.StringVarP(&f.output, "output", "o", "", "output directory, or s3://bucket/prefix (AWS_* environment; required)")
	fl.DurationVar(&f.segmentDuration, "segment-duration", 2*time.Second, "target segment duration; segments start at sync samples")
	fl.StringVar(&f.scheme, "scheme", "cbcs", "protection scheme: cbcs or cenc")
	fl.BoolVar(&f.dual, "dual", false, "write cbcs segments for HLS and cenc segments for DASH in one run")
	fl.StringVar(&f.iv, "iv", "", "IV in hex: 16 bytes constant IV for cbcs, 8 bytes for cenc (random per key/track when absent)")
	fl.StringVar(&f.drms, "drm", "", "DRM systems to signal (default: speke.systems of the configuration, widevine,playready,fairplay,clearkey unless set; fairplay is left out by default with --scheme cenc)")
	fl.DurationVar(&f.clearLead, "clear-lead", 0, "leave whole segments in the clear at the start, covering at least this duration")
	fl.DurationVar(&f.keyPeriod, "key-period", 0, "rotate keys: a new key per key period (e.g. 30s; whole segments) from the key store (--content-id), --speke, a --cpix document's ContentKeyPeriodList, or one --key per period in order")
	fl.StringVar(&f.contentID, "content-id", "", "content ID: without --key, keys come from the key store (get-or-create); default output DATA/content/ID")
	fl.StringVar(&f.keysPer, "keys-per", "asset", "with --content-id: one key per asset, or per track-type (AUDIO, SD, HD, UHD1, UHD2)")
}

func runPackage(cmd *cobra.Command, f packageFlags, inputs []string, stdout, stderr io.Writer) error {
	cfg := packager.Config{
		Inputs:            inputs,
		OutputDir:         f.output,
		SegmentDuration:   f.segmentDuration,
		Dual:              f.dual,
		WidevineProvider:  f.wvProvider,
		WidevineContentID: f.wvContentID,
		PlayReadyLAURL:    f.prLAURL,
		ClearKeyLAURL:     f.ckLAURL,
		FairPlayKeyURI:    f.fpKeyURI,
		ClearLead:         f.clearLead,
		KeyPeriod:         f.keyPeriod,
		PSSHInInit:        f.psshInInit,
		Warn:              func(msg string) { fmt.Fprintf(stderr, "warning: %s\n", msg) },
	}
	for _, s := range f.texts {
		cfg.Texts = append(cfg.Texts, parseTextFlag(s))
	}
	if f.keyPeriod < 0 || cmd.Flags().Changed("key-period") && f.keyPeriod == 0 {
		return fmt.Errorf("--key-period: %s: want a positive duration such as 30s", f.keyPeriod)
	}
	rs, err := packager.ParseRotationSignaling(f.rotationSig)
	if err != nil {
		return fmt.Errorf("--rotation-signaling: %w", err)
	}
	cfg.RotationSignaling = rs
	if cfg.RotationSignaling != packager.PeriodSignaling && f.keyPeriod == 0 {
		return fmt.Errorf("--rotation-signaling %s needs --key-period", cfg.RotationSignaling)
	}
	if f.psshInInit && f.noPSSHInInit {
		return fmt.Errorf("--pssh-in-init and --no-pssh-in-init contradict each other")
	}
	if cmd.Flags().Changed("content-id") {
		// The ID becomes DATA/content/ID and a key-store identity.
		if err := checkContentID("--content-id", f.contentID); err != nil {
			return err
		}
	}
	conf, err := f.conf.load()
	if err != nil {
		return err
	}
	if f.output == "" && f.contentID != "" {
		cfg.OutputDir = filepath.Join(conf.Server.DataDir, "content", f.contentID)
	}
	if cfg.OutputDir == "" {
		return fmt.Errorf("no output directory: use -o DIR (or --content-id to write under the data directory)")
	}
	if cfg.Scheme, err = cenc.ParseScheme(f.scheme); err != nil {
		return fmt.Errorf("--scheme: %w", err)
	}
	if f.dual && cmd.Flags().Changed("scheme") {
		return fmt.Errorf("--dual writes both schemes; do not combine it with --scheme")
	}
	drms := f.drms
	if !cmd.Flags().Changed("drm") {
		// speke.systems; FairPlay is cbcs-only: the default list drops it
		// for cenc; an explicit --drm fairplay with cenc is an error
		// (packager.Config.Validate).
		var list []string
		for _, s := range conf.SPEKE.Systems {
			if cfg.Scheme != cenc.CENC || f.dual || !strings.EqualFold(s, "fairplay") {
				list = append(list, s)
			}
		}
		drms = strings.Join(list, ",")
	}
	if cfg.Systems, err = drm.ParseSystems(drms); err != nil {
		return fmt.Errorf("--drm (speke.systems): %w", err)
	}
	if f.spekeURL == "" && f.cpixFile == "" && len(f.keys) == 0 && !f.clear && f.keyPeriod == 0 && f.contentID != "" {
		f.spekeURL = conf.SPEKE.Client.URL // the configured provider, when no key source is named
	}
	f.speke = conf.SPEKE.Client
	if cmd.Flags().Changed("speke-version") {
		f.speke.Version = f.spekeVersion
	}
	if f.spekeToken != "" {
		f.speke.Token = f.spekeToken
	}
	if f.iv != "" {
		if cfg.IV, err = hex.DecodeString(strings.TrimPrefix(f.iv, "0x")); err != nil {
			return fmt.Errorf("--iv: not hex")
		}
	}
	switch {
	case f.clear && len(f.keys) > 0:
		return fmt.Errorf("--clear and --key contradict each other")
	case f.clear:
	case f.spekeURL != "" || f.cpixFile != "":
		if len(f.keys) > 0 || (f.spekeURL != "" && f.cpixFile != "") {
			return fmt.Errorf("use one key source: --key, --speke or --cpix")
		}
		src, provided, closeKeys, err := providerKeys(cmd.Context(), f, cfg.Scheme, cfg.Systems)
		if err != nil {
			return err
		}
		defer closeKeys()
		cfg.Keys, cfg.Provided = src, provided
	case len(f.keys) == 0 && f.contentID != "":
		var opts []keys.SourceOption
		switch f.keysPer {
		case "asset":
			opts = append(opts, keys.OneKeyPerAsset())
		case "track-type":
		default:
			return fmt.Errorf("--keys-per: %q (want asset or track-type)", f.keysPer)
		}
		st, err := keystore.Open(cmd.Context(), conf.KeyStore())
		if err != nil {
			return err
		}
		defer st.Close()
		if f.keyPeriod > 0 {
			opts = append(opts, keys.RecordPeriodTimes(st))
			cfg.Keys = storePeriodKeys{keys.SourceFor(st, f.contentID, opts...)}
			break
		}
		cfg.Keys = keys.SourceFor(st, f.contentID, opts...)
	case len(f.keys) == 0:
		return fmt.Errorf("no content key: give --key KID:KEY (or TYPE=KID:KEY per track type), --content-id ID for keys from the key store, or --clear for unencrypted output")
	default:
		byType, err := parseKeyFlags(f.keys, f.keyPeriod > 0)
		if err != nil {
			return err
		}
		src, err := keys.NewPeriodStaticSource(byType)
		if err != nil {
			return err
		}
		cfg.Keys = src
	}
	if !f.quiet && isTerminal(stderr) {
		cfg.Progress = stderr
	}
	if conf.Observability.Tracing.Exporter != observability.ExporterNone {
		tp, shutdown, err := observability.NewTracerProvider(cmd.Context(), conf.Observability.Tracing)
		if err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		defer func() { _ = shutdown(context.WithoutCancel(cmd.Context())) }()
		cfg.Observer = observability.NewSegmentTracer(tp, nil)
	}
	ps, err := wirePackageStorage(&cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := packager.Package(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "packaged %d track(s) from %d input(s) into %s in %.2fs (%.1f MB/s)\n",
		len(res.Tracks), len(inputs), res.OutputDir, elapsed.Seconds(), float64(res.InputBytes)/1e6/elapsed.Seconds())
	for _, t := range res.Tracks {
		kid := "clear"
		switch {
		case len(t.KIDs) > 1:
			kid = fmt.Sprintf("%d key periods, KIDs %s", len(t.KIDs), strings.Join(t.KIDs, " "))
		case t.KID != "":
			kid = "KID " + t.KID
		}
		typ := t.TrackType.String()
		if t.Kind == media.Text {
			typ = "TEXT"
		}
		fmt.Fprintf(stdout, "  %-18s %-16s %-5s %3d segments  %s\n", t.Name, t.Codecs, typ, t.Segments, kid)
	}
	ps.report(stdout)
	return nil
}

// storePeriodKeys is the key store's source under key rotation: told the
// key periods' media time (packager.KeyPeriodPlanner), it records them in
// the store (key_period_times, as the SPEKE provider does for its
// encryptors' periods) before the first key is given.
type storePeriodKeys struct{ *keys.StoreSource }

func (s storePeriodKeys) PlanKeyPeriods(periods []packager.KeyPeriodRange) {
	times := make([]keys.PeriodTimes, len(periods))
	for i, p := range periods {
		times[i] = keys.PeriodTimes{Period: uint32(i), Start: p.Start, End: p.End}
	}
	s.PlanPeriodTimes(times)
}

// parseTextFlag reads --text FILE[:lang=LANG][,name=NAME]. The options
// follow the last colon when every comma-separated item there is lang=...
// or name=...; otherwise the whole value is the file name (which may
// contain colons).
func parseTextFlag(s string) packager.TextInput {
	in := packager.TextInput{Path: s}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return in
	}
	opt := packager.TextInput{Path: s[:i]}
	for _, kv := range strings.Split(s[i+1:], ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "lang":
			opt.Language = v
		case "name":
			opt.Name = v
		default:
			return in
		}
	}
	return opt
}
