package cli

import (
	"io"

	"github.com/spf13/cobra"
)

func newVerifyCmd(stdout, stderr io.Writer) *cobra.Command {
	var k []string
	cmd := &cobra.Command{Use: "verify", Args: cobra.ExactArgs(1), RunE: func(*cobra.Command, []string) error { return nil }}
	cmd.Flags().StringArrayVar(&k, "key", nil, "")
	return cmd
}
