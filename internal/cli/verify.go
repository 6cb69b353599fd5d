package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/verify"
)

func newVerifyCmd(stdout, stderr io.Writer) *cobra.Command {
	var keyFlags []string
	var live, allowUnproven bool
	ffmpeg := os.Getenv("DRMPIPE_FFMPEG")
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	cmd := &cobra.Command{
		Use:   "verify [--key KID:KEY ...] OUTDIR",
		Short: "Check the DRM signaling of a packaged output (any packager's), and decrypt it with keys",
		Long: `Verify parses the DASH and HLS manifests of OUTDIR, checks that every
cenc:default_KID matches its tenc, that pssh boxes parse and list the right
KIDs, that tenc and PlayReady header versions fit the scheme, one EXT-X-KEY per
DRM, FairPlay only with cbcs; with --key it decrypts every segment and
checks the decrypted samples. Key rotation is understood in both
signalings: one init segment per key period (DASH Periods, EXT-X-MAP per
period), or in-band (seig and pssh in every fragment, checked against each
other and the playlists); give one --key per key period. A --key whose KID
no track uses, an encrypted track or key period without a --key when others
were given, and a key period whose key decrypts to invalid samples are
problems.
Every --key must be proven right: by a PlayReady header CHECKSUM, by
decrypted AAC audio that parses, or by decrypted H.264/HEVC/AV1/VP9/Opus
that ffmpeg (--ffmpeg, env DRMPIPE_FFMPEG, else ffmpeg on PATH) decodes without
an error (HEVC: with WPP or tiles). A key nothing can prove is "not proven":
exit status 2, unless --allow-unproven.
A dynamic MPD (live) must carry availabilityStartTime, publishTime,
minimumUpdatePeriod and timeShiftBufferDepth, Periods with unique ids and
starts in order, and list no more media than its window (with --live, a
UTCTiming element too); a live media playlist that has slid must still list
three target durations (RFC 8216 §6.2.2). Verify a live channel's directory
(DATA/live/NAME) with the keys of the key periods it lists.
It exits 1 with one line per problem.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ks []verify.Key
			for _, s := range keyFlags {
				_, k, err := parseKeyFlag(s)
				if err != nil {
					return err
				}
				ks = append(ks, verify.Key{KID: k.KID, Key: k.Key})
			}
			rep, err := verify.DirWith(cmd.Context(), args[0], ks, verify.Options{Live: live, FFmpeg: ffmpeg})
			if err != nil {
				return err
			}
			for _, t := range rep.Tracks {
				kid := "KID " + t.KID.String()
				if len(t.KIDs) > 1 {
					kid = fmt.Sprintf("%d KIDs (in-band key periods) %s", len(t.KIDs), joinKIDs(t.KIDs))
				}
				if t.Scheme == "" {
					kid = "clear"
				}
				fmt.Fprintf(stdout, "%-24s %-5s %s  %d segments, %d samples, %d decrypted, %d clear lead\n", t.Dir, t.Scheme, kid, t.Segments, t.Samples, t.DecryptedSamples, t.ClearSamples)
			}
			for _, k := range rep.Keys {
				fmt.Fprintln(stdout, k.String())
			}
			for _, p := range rep.Problems {
				fmt.Fprintln(stderr, p.String())
			}
			if !rep.OK() {
				fmt.Fprintf(stderr, "%d problem(s) found\n", len(rep.Problems))
				return errSilent
			}
			if u := rep.Unproven(); len(u) > 0 {
				if !allowUnproven {
					fmt.Fprintf(stderr, "NOT PROVEN: %d key(s) not proven right (--allow-unproven accepts them)\n", len(u))
					return errKeysUnproven
				}
				fmt.Fprintf(stdout, "OK, %d key(s) not proven (--allow-unproven)\n", len(u))
				return nil
			}
			fmt.Fprintln(stdout, "OK")
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keyFlags, "key", nil, "KID:KEY (hex) to decrypt with; repeatable")
	cmd.Flags().BoolVar(&live, "live", false, "hold a dynamic MPD to the rules of a live service: a UTCTiming element is required")
	cmd.Flags().StringVar(&ffmpeg, "ffmpeg", ffmpeg, "ffmpeg binary that decodes decrypted video to prove keys; env DRMPIPE_FFMPEG")
	cmd.Flags().BoolVar(&allowUnproven, "allow-unproven", false, "exit 0 when keys decrypt without a problem but nothing proves them right")
	return cmd
}

// joinKIDs lists KIDs separated by spaces.
func joinKIDs(kids []drm.KeyID) string {
	s := make([]string, len(kids))
	for i, k := range kids {
		s[i] = k.String()
	}
	return strings.Join(s, " ")
}
