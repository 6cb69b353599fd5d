package cli

import (
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
	"github.com/drmpipe/drmpipe/internal/live"
)

// channelFlags are the settings of `drmpipe channel create`.
type channelFlags struct {
	segment, keyPeriod, window time.Duration
	scheme, drms, keysPer      string
}

func newChannelCmd(stdout io.Writer) *cobra.Command {
	var conf configFlags
	cmd := &cobra.Command{Use: "channel", Short: "Manage live channels (CMAF ingest, encrypted dynamic DASH and live HLS)"}
	conf.register(cmd.PersistentFlags())
	var f channelFlags
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a live channel and print its ingest and playback URLs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.channel(cmd, args[0])
			if err != nil {
				return err
			}
			cfg, err := conf.load()
			if err != nil {
				return err
			}
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				c, err := live.NewChannels(st.Store).Create(cmd.Context(), c)
				if err != nil {
					return err
				}
				_ = st.Audit(cmd.Context(), apikey.Entry{Actor: "cli", Action: "channel.create", Target: c.Name, At: time.Now()})
				printChannel(stdout, c, serverBase(cfg))
				return nil
			})
		},
	}
	fl := create.Flags()
	fl.DurationVar(&f.segment, "segment-duration", live.DefaultSegmentDuration, "target segment duration")
	fl.DurationVar(&f.keyPeriod, "key-period", live.DefaultKeyPeriod, "key period (a whole number of segments): a new key per period")
	fl.DurationVar(&f.window, "window", live.DefaultWindow, "time-shift window the manifests list")
	fl.StringVar(&f.scheme, "scheme", "cbcs", "protection scheme: cbcs or cenc")
	fl.StringVar(&f.drms, "drm", "", "DRM systems to signal (default widevine,playready,fairplay,clearkey; without fairplay for cenc)")
	fl.StringVar(&f.keysPer, "keys-per", "asset", "one key per asset, or per track-type (AUDIO, SD, HD, UHD1, UHD2), in each key period")

	list := &cobra.Command{
		Use:   "list",
		Short: "List live channels",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				cs, err := live.NewChannels(st.Store).List(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSEGMENT\tKEY PERIOD\tWINDOW\tSCHEME\tDRM\tKEYS PER\tCREATED")
				for _, c := range cs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.SegmentDuration, c.KeyPeriod, c.Window, c.Scheme,
						systemNames(c.Systems), c.KeysPer, c.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a live channel's settings and URLs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := conf.load()
			if err != nil {
				return err
			}
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				c, err := live.NewChannels(st.Store).Get(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				printChannel(stdout, c, serverBase(cfg))
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a live channel (its keys stay in the store)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				if err := live.NewChannels(st.Store).Delete(cmd.Context(), args[0]); err != nil {
					return err
				}
				_ = st.Audit(cmd.Context(), apikey.Entry{Actor: "cli", Action: "channel.delete", Target: args[0], At: time.Now()})
				fmt.Fprintf(stdout, "deleted channel %s\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, show, del)
	return cmd
}

// channel turns the create flags into a channel; the error names the flag.
func (f *channelFlags) channel(cmd *cobra.Command, name string) (live.Channel, error) {
	c := live.Channel{Name: name, SegmentDuration: f.segment, KeyPeriod: f.keyPeriod, Window: f.window, CreatedAt: time.Now().UTC()}
	var err error
	if c.Scheme, err = cenc.ParseScheme(f.scheme); err != nil {
		return c, fmt.Errorf("--scheme: %w", err)
	}
	if cmd.Flags().Changed("drm") {
		if c.Systems, err = drm.ParseSystems(f.drms); err != nil {
			return c, fmt.Errorf("--drm: %w", err)
		}
	}
	if c.KeysPer, err = live.ParseKeysPer(f.keysPer); err != nil {
		return c, fmt.Errorf("--keys-per: %w", err)
	}
	return c, nil
}

// serverBase is the URL base of the configured server, for printing: an
// unspecified listen host becomes localhost.
func serverBase(cfg *config.Config) string {
	scheme := "http"
	if cfg.Server.TLS.CertFile != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		return scheme + "://" + cfg.Server.Listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func systemNames(ss []drm.System) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.String()
	}
	return strings.Join(names, ",")
}

// printChannel prints a channel's settings and URLs.
func printChannel(w io.Writer, c live.Channel, base string) {
	u := live.ChannelURLs(base, c.Name)
	fmt.Fprintf(w, "channel %s: segments %s, key period %s, window %s, %s, %s, keys per %s\n",
		c.Name, c.SegmentDuration, c.KeyPeriod, c.Window, c.Scheme, systemNames(c.Systems), c.KeysPer)
	fmt.Fprintf(w, "ingest (per object, ffmpeg -f dash -method PUT): %sstream.mpd\n", u.Ingest)
	fmt.Fprintf(w, "ingest (one POST per track):  %s  %s\n", u.IngestVideo, u.IngestAudio)
	fmt.Fprintf(w, "DASH: %s\n", u.DASH)
	fmt.Fprintf(w, "HLS:  %s\n", u.HLS)
}
