package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newRevokeCmd(stdout io.Writer) *cobra.Command {
	var serverURL, apiKey, reason string
	cmd := &cobra.Command{
		Use:   "revoke user|device|token|kid VALUE [--reason TEXT]",
		Short: "Revoke a user, device, token (jti) or key ID on a running drmpipe server (admin API)",
		Long: `Revoke records a revocation through the admin API of a running server.
It is checked on every license request and reaches every replica within a
second when Redis is configured (with Redis down, the server applies it at
once and the other replicas at their next re-sync from the audit log);
matching license cache entries are purged;
a revoked KID is marked compromised so the next packaging gets a new key.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if apiKey == "" {
				return fmt.Errorf("an admin API key is required: --api-key or DRMPIPE_API_KEY")
			}
			body, _ := json.Marshal(map[string]string{"kind": args[0], "value": args[1], "reason": reason})
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(serverURL, "/")+"/v1/admin/revocations", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+apiKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("admin API %s: %w", serverURL, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
				var e struct{ Code, Message string }
				_ = json.Unmarshal(b, &e)
				return fmt.Errorf("admin API answered %d %s: %s", resp.StatusCode, e.Code, e.Message)
			}
			// The answer is the revocation as recorded: the canonical
			// value (a KID in lowercase UUID form) and its time.
			var rev struct {
				Kind, Value string
				At          time.Time
			}
			if err := json.Unmarshal(b, &rev); err != nil || rev.Value == "" {
				return fmt.Errorf("admin API answered %d without a revocation: %q", resp.StatusCode, b)
			}
			fmt.Fprintf(stdout, "revoked %s %s at %s\n", rev.Kind, rev.Value, rev.At.UTC().Format(time.RFC3339Nano))
			if resp.StatusCode == http.StatusAccepted {
				// Recorded and applied by that server; do not retry.
				fmt.Fprintln(stdout, "applied by that server only (its Redis is unreachable); the other servers apply it at their next re-sync (policy.revocations.resync_interval)")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&serverURL, "server", "http://127.0.0.1:8080", "drmpipe server URL")
	cmd.Flags().StringVar(&apiKey, "api-key", os.Getenv("DRMPIPE_API_KEY"), "admin API key; env DRMPIPE_API_KEY")
	cmd.Flags().StringVar(&reason, "reason", "", "why (audited)")
	return cmd
}
