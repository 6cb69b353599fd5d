package cli

import "github.com/spf13/cobra"

// newArgCmd is a subcommand on its one argument, which parse turns into
// the value run takes (a job ID, a key ID); a parse error is the
// command's error and run is not called.
func newArgCmd[T any](use, short string, parse func(string) (T, error), run func(cmd *cobra.Command, v T) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parse(args[0])
			if err != nil {
				return err
			}
			return run(cmd, v)
		},
	}
}
