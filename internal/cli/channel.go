package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/admin"
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
	archive                    bool
}

// printOneChannel prints the channel the admin API answers to method on
// path (with body) when --server is given, else the one local gives on the
// data directory's key store.
func printOneChannel(cmd *cobra.Command, stdout io.Writer, conf *configFlags, api *adminClient, method, path string, body any,
	local func(*keystore.KeyStore) (live.Channel, error)) error {
	if api.server != "" {
		var got admin.ChannelJSON
		if _, err := api.do(cmd.Context(), method, path, body, &got); err != nil {
			return err
		}
		return printRemoteChannel(stdout, got, api.server)
	}
	cfg, err := conf.load()
	if err != nil {
		return err
	}
	return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
		c, err := local(st)
		if err != nil {
			return err
		}
		printChannel(stdout, c, serverBase(cfg))
		return nil
	})
}

func newChannelCmd(stdout io.Writer) *cobra.Command {
	var conf configFlags
	var api adminClient
	cmd := &cobra.Command{
		Use:   "channel",
		Short: "Manage live channels (CMAF ingest, encrypted dynamic DASH and live HLS)",
		Long: `Channel manages live channels in the data directory (--data, --config), or
through the admin API of a running server with --server URL (API key of
scope admin in DRMPIPE_API_KEY or --api-key). A running server sees channels
created and deleted in either way within a second.`,
	}
	conf.register(cmd.PersistentFlags())
	api.register(cmd.PersistentFlags(), "")
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
			return printOneChannel(cmd, stdout, &conf, &api, http.MethodPost, "/v1/admin/channels", admin.ChannelToJSON(c, ""),
				func(st *keystore.KeyStore) (live.Channel, error) {
					c, err := live.NewChannels(st.Store).Create(cmd.Context(), c)
					if err != nil {
						return c, err
					}
					_ = st.Audit(cmd.Context(), apikey.Entry{Actor: "cli", Action: "channel.create", Target: c.Name, At: time.Now()})
					return c, nil
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
	fl.BoolVar(&f.archive, "archive", false, "keep the whole event and publish it as a VOD asset under the content directory when the stream ends")

	list := &cobra.Command{
		Use:   "list",
		Short: "List live channels",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cs []live.Channel
			if api.server != "" {
				var got struct{ Channels []admin.ChannelJSON }
				if _, err := api.do(cmd.Context(), http.MethodGet, "/v1/admin/channels", nil, &got); err != nil {
					return err
				}
				for _, j := range got.Channels {
					c, err := remoteChannel(j)
					if err != nil {
						return err
					}
					cs = append(cs, c)
				}
			} else if err := conf.withStore(cmd.Context(), func(st *keystore.KeyStore) (err error) {
				cs, err = live.NewChannels(st.Store).List(cmd.Context())
				return err
			}); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSEGMENT\tKEY PERIOD\tWINDOW\tSCHEME\tDRM\tKEYS PER\tARCHIVE\tCREATED")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%t\t%s\n", c.Name, c.SegmentDuration, c.KeyPeriod, c.Window, c.Scheme,
					systemNames(c.Systems), c.KeysPer, c.Archive, c.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a live channel's settings and URLs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printOneChannel(cmd, stdout, &conf, &api, http.MethodGet, "/v1/admin/channels/"+url.PathEscape(args[0]), nil,
				func(st *keystore.KeyStore) (live.Channel, error) {
					return live.NewChannels(st.Store).Get(cmd.Context(), args[0])
				})
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a live channel: ingest and output stop, its published output goes (its keys and archives stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if api.server != "" {
				if _, err := api.do(cmd.Context(), http.MethodDelete, "/v1/admin/channels/"+url.PathEscape(args[0]), nil, nil); err != nil {
					return err
				}
			} else if err := conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				if err := live.NewChannels(st.Store).Delete(cmd.Context(), args[0]); err != nil {
					return err
				}
				_ = st.Audit(cmd.Context(), apikey.Entry{Actor: "cli", Action: "channel.delete", Target: args[0], At: time.Now()})
				return nil
			}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted channel %s\n", args[0])
			return nil
		},
	}
	stop := &cobra.Command{
		Use:   "stop NAME",
		Short: "End a live channel's stream: static MPD, EXT-X-ENDLIST, ingest refused, the archive published (--archive)",
		Long: `Stop ends a channel's stream. With --server the running server stops it; on
the data directory (--data) the command does the server's work itself, so
use it there only while no server runs on that directory.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if api.server != "" {
				var got struct{ Stopped, Archive string }
				if _, err := api.do(cmd.Context(), http.MethodPost, "/v1/admin/channels/"+url.PathEscape(args[0])+"/stop", nil, &got); err != nil {
					return err
				}
				printStopped(stdout, args[0], got.Archive)
				return nil
			}
			cfg, err := conf.load()
			if err != nil {
				return err
			}
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				sp := cfg.SPEKE
				lc := cfg.Live
				p, err := live.New(live.Config{Dir: lc.Dir, ReplicaID: lc.ReplicaID, LeaseTTL: lc.LeaseTTL, ArchiveDir: filepath.Join(cfg.Server.DataDir, "content"),
					WidevineProvider: sp.WidevineProvider, PlayReadyLAURL: sp.PlayReadyLAURL, ClearKeyLAURL: sp.ClearKeyLAURL, FairPlayKeyURI: sp.FairPlayKeyURI()},
					live.Deps{Channels: live.NewChannels(st.Store), Keys: st, Leases: st.Store, Auth: noEncoders{}})
				if err != nil {
					return err
				}
				defer p.Close()
				dir, err := p.Stop(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if dir != "" {
					dir = serverBase(cfg) + "/content/" + filepath.Base(dir) + "/" + live.ManifestName
				}
				printStopped(stdout, args[0], dir)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, show, del, stop)
	return cmd
}

// noEncoders refuses every encoder: `channel stop` on the data directory
// takes no ingest.
type noEncoders struct{}

func (noEncoders) AuthenticateEncoder(*http.Request, apikey.Scope) (string, error) {
	return "", apikey.ErrUnauthenticated
}

func printStopped(w io.Writer, name, archive string) {
	fmt.Fprintf(w, "stopped channel %s: the MPD is static, the playlists end\n", name)
	if archive != "" {
		fmt.Fprintf(w, "archive (VOD): %s\n", archive)
	}
}

// remoteChannel is a channel as the admin API shows it.
func remoteChannel(j admin.ChannelJSON) (live.Channel, error) {
	c, err := j.Channel()
	if err != nil {
		return c, fmt.Errorf("admin API channel %q: %w", j.Name, err)
	}
	if j.CreatedAt != nil {
		c.CreatedAt = *j.CreatedAt
	}
	return c.WithDefaults(), nil
}

func printRemoteChannel(w io.Writer, j admin.ChannelJSON, server string) error {
	c, err := remoteChannel(j)
	if err != nil {
		return err
	}
	printChannel(w, c, strings.TrimRight(server, "/"))
	return nil
}

// channel turns the create flags into a channel; the error names the flag.
func (f *channelFlags) channel(cmd *cobra.Command, name string) (live.Channel, error) {
	c := live.Channel{Name: name, SegmentDuration: f.segment, KeyPeriod: f.keyPeriod, Window: f.window, Archive: f.archive, CreatedAt: time.Now().UTC()}
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
	archive := ""
	if c.Archive {
		archive = ", archived"
	}
	fmt.Fprintf(w, "channel %s: segments %s, key period %s, window %s, %s, %s, keys per %s%s\n",
		c.Name, c.SegmentDuration, c.KeyPeriod, c.Window, c.Scheme, systemNames(c.Systems), c.KeysPer, archive)
	fmt.Fprintf(w, "ingest (per object, ffmpeg -f dash -method PUT): %sstream.mpd\n", u.Ingest)
	fmt.Fprintf(w, "ingest (one POST per track):  %s  %s\n", u.IngestVideo, u.IngestAudio)
	fmt.Fprintf(w, "DASH: %s\n", u.DASH)
	fmt.Fprintf(w, "HLS:  %s\n", u.HLS)
}
