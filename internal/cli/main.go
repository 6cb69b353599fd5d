// Package cli implements the drmpipe subcommands, one file per subcommand.
// Each is a cobra command whose run function takes its context, arguments
// and output streams, so that tests drive it like the real binary.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X .../cli.version=...".
var version = ""

// errSilent marks an error whose message was already printed.
var errSilent = errors.New("")

// errKeysUnproven is errSilent for drmpipe verify's "not proven" verdict,
// which exits with its own status.
var errKeysUnproven = fmt.Errorf("keys not proven%w", errSilent)

// exitUnproven is the exit status of errKeysUnproven.
const exitUnproven = 2

// Main runs drmpipe with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, errKeysUnproven) {
			return exitUnproven
		}
		if !errors.Is(err, errSilent) {
			fmt.Fprintf(stderr, "drmpipe: %v\n", err)
		}
		return 1
	}
	return 0
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "drmpipe",
		Short:         "Package, encrypt and signal video for Widevine, PlayReady, FairPlay and ClearKey",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newPackageCmd(stdout, stderr), newVerifyCmd(stdout, stderr), newKeysCmd(stdout), newServeCmd(stdout, stderr),
		newAPIKeyCmd(stdout), newChannelCmd(stdout), newTokenCmd(stdout), newRevokeCmd(stdout), newConfigCmd(stdout), newVersionCmd(stdout),
		newJobsCmd(stdout, stderr), newWorkerCmd(stdout, stderr))
	return root
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(stdout, versionString())
			return nil
		},
	}
}

func versionString() string {
	v := version
	if v == "" {
		v = "devel"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		return fmt.Sprintf("drmpipe %s (%s)", v, bi.GoVersion)
	}
	return "drmpipe " + v
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
