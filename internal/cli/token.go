package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/entitlement"
)

func newTokenCmd(stdout io.Writer) *cobra.Command {
	var conf configFlags
	var content, user, device string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token --content ID --user U [--device D] [--ttl 30s]",
		Short: "Print a playback token signed with drmpipe's own key (published at /.well-known/jwks.json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkContentID("--content", content); err != nil {
				return err
			}
			cfg, err := conf.load()
			if err != nil {
				return err
			}
			if ttl <= 0 || ttl > cfg.Tokens.MaxLifetime {
				return fmt.Errorf("--ttl must be positive and at most tokens.max_lifetime (%s)", cfg.Tokens.MaxLifetime)
			}
			s, err := entitlement.NewSigner(cfg.Tokens.SignerConfig(ttl))
			if err != nil {
				return err
			}
			tok, err := s.Sign(entitlement.Claims{Subject: user, ContentID: content, DeviceID: device})
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, tok)
			return nil
		},
	}
	conf.register(cmd.Flags())
	cmd.Flags().StringVar(&content, "content", "", "content ID (required)")
	cmd.Flags().StringVar(&user, "user", "", "user (sub) (required)")
	cmd.Flags().StringVar(&device, "device", "", "device ID")
	cmd.Flags().DurationVar(&ttl, "ttl", 30*time.Second, "lifetime")
	_ = cmd.MarkFlagRequired("content")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}
