package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/config"
)

func newConfigCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	var conf configFlags
	check := &cobra.Command{
		Use:   "check [--config FILE]",
		Short: "Validate the configuration (file < env < flags) and print the effective one with secrets masked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := conf.loadValid()
			if err != nil {
				return err
			}
			return config.Print(stdout, cfg)
		},
	}
	conf.register(check.Flags())
	cmd.AddCommand(check)
	return cmd
}
