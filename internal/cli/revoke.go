package cli

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newRevokeCmd(stdout io.Writer) *cobra.Command {
	var api adminClient
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke user|device|token|kid VALUE [--reason TEXT]",
		Short: "Revoke a user, device, token (jti) or key ID on a running drmpipe server (admin API)",
		Long: `Revoke records a revocation through the admin API of a running server.
It is checked on every license request and reaches every replica within a
second when Redis is configured (with Redis down, the server applies it at
once and the other replicas at their next re-sync from the audit log);
matching license cache entries are purged;
a revoked KID is marked compromised so the next packaging gets a new key,
and a live channel encrypting with it starts a new key period at its next
segment boundary.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The answer is the revocation as recorded: the canonical
			// value (a KID in lowercase UUID form) and its time.
			var rev struct {
				Kind, Value string
				At          time.Time
			}
			status, err := api.do(cmd.Context(), http.MethodPost, "/v1/admin/revocations", map[string]string{"kind": args[0], "value": args[1], "reason": reason}, &rev)
			if err != nil {
				return err
			}
			if rev.Value == "" {
				return fmt.Errorf("admin API answered %d without a revocation", status)
			}
			fmt.Fprintf(stdout, "revoked %s %s at %s\n", rev.Kind, rev.Value, rev.At.UTC().Format(time.RFC3339Nano))
			if status == http.StatusAccepted {
				// Recorded and applied by that server; do not retry.
				fmt.Fprintln(stdout, "applied by that server only (its Redis is unreachable); the other servers apply it at their next re-sync (policy.revocations.resync_interval)")
			}
			return nil
		},
	}
	api.register(cmd.Flags(), "http://127.0.0.1:8080")
	cmd.Flags().StringVar(&reason, "reason", "", "why (audited)")
	return cmd
}
