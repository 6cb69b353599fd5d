package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/keys/keystore"
)

// newKeysAuditCmd is `drmpipe keys audit prune`: the audit log's retention
// policy applied once, as `drmpipe serve` does every
// store.audit.prune_interval.
func newKeysAuditCmd(stdout io.Writer, conf *configFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Maintain the audit log of the key store"}
	var olderThan time.Duration
	prune := &cobra.Command{
		Use:   "prune [--older-than D]",
		Short: "Delete access and refusal rows (broker.fetch, broker.refuse) older than store.audit.retention; revocations and admin actions are kept",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := conf.load()
			if err != nil {
				return err
			}
			keep := cfg.Store.Audit.Retention
			if cmd.Flags().Changed("older-than") {
				if olderThan <= 0 {
					return fmt.Errorf("--older-than must be positive (got %s)", olderThan)
				}
				keep = olderThan
			}
			if keep <= 0 {
				fmt.Fprintln(stdout, "store.audit.retention is 0 (keep forever): nothing pruned")
				return nil
			}
			st, err := keystore.Open(cmd.Context(), cfg.KeyStore())
			if err != nil {
				return err
			}
			defer st.Close()
			cutoff := time.Now().Add(-keep)
			n, err := st.PruneAudit(cmd.Context(), cutoff, 0)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deleted %d audit row(s) older than %s\n", n, cutoff.UTC().Format(time.RFC3339))
			return nil
		},
	}
	prune.Flags().DurationVar(&olderThan, "older-than", 0, "delete rows older than this instead of store.audit.retention")
	cmd.AddCommand(prune)
	return cmd
}
