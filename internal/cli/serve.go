package cli

import (
	"fmt"
	"io"
	"net"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/observability"
	"github.com/drmpipe/drmpipe/internal/server"
)

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var conf configFlags
	var webDir string
	var workers int
	cmd := &cobra.Command{
		Use:   "serve [--config FILE] [--data DIR] [--listen ADDR] [--demo]",
		Short: "Serve licenses, SPEKE, tokens, the admin API and packaged content",
		Long: `Serve runs the drmpipe server: the ClearKey license server and the
Widevine/PlayReady/FairPlay gateway, the SPEKE v1/v2 key provider, playback
tokens, the admin API, the packaged outputs under DATA/content as an origin,
/metrics, /healthz and /readyz. It shuts down gracefully on SIGINT/SIGTERM.
With --demo it also serves the demo player page and mints demo tokens.
With jobs.dsn (or a PostgreSQL store) it serves the jobs API, and with
--workers N it runs N packaging jobs at once itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := conf.loadValid()
			if err != nil {
				return err
			}
			log := observability.NewLogger(cfg.Observability.Log, stderr)
			app, err := server.NewApp(cmd.Context(), cfg, server.AppOptions{Logger: log, WebDir: webDir, Workers: workers})
			if err != nil {
				return err
			}
			defer app.Close()
			return app.Server.Run(cmd.Context(), func(addr net.Addr) {
				fmt.Fprintf(stdout, "drmpipe serving on http://%s\n", addr)
				if cfg.Server.Demo {
					fmt.Fprintf(stdout, "demo player: http://%s/web/player/\n", addr)
				}
			})
		},
	}
	conf.register(cmd.Flags())
	cmd.Flags().IntVar(&workers, "workers", 0, "also run this many packaging jobs at once in this process (needs jobs.dsn)")
	cmd.Flags().StringVar(&webDir, "web-dir", "web", "directory with the demo page (player/) and its npm packages (node_modules/)")
	return cmd
}
