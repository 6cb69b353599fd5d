package cli

import (
	"encoding/hex"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/entitlement"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
	"github.com/drmpipe/drmpipe/internal/revocation"
)

func newKeysCmd(stdout io.Writer) *cobra.Command {
	var conf configFlags
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage content keys in the key store (create, list, show, revoke, rewrap, export, broker-url, audit prune)",
	}
	conf.register(cmd.PersistentFlags())

	var contentID, trackType string
	var period uint32
	create := &cobra.Command{
		Use:   "create --content-id ID [--track-type TYPE] [--period N]",
		Short: "Get or create the key of a content ID, track type and crypto period (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkContentID("--content-id", contentID); err != nil {
				return err
			}
			tt, err := keys.ParseTrackType(trackType)
			if err != nil {
				return err
			}
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				k, err := st.GetOrCreate(cmd.Context(), contentID, tt, period)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s\n", k.KID)
				return nil
			})
		},
	}
	create.Flags().StringVar(&contentID, "content-id", "", "content ID (required)")
	create.Flags().StringVar(&trackType, "track-type", "ALL", "ALL, AUDIO, SD, HD, UHD1 or UHD2")
	create.Flags().Uint32Var(&period, "period", 0, "crypto period index (key rotation)")
	_ = create.MarkFlagRequired("content-id")

	var listContent string
	list := &cobra.Command{
		Use:   "list --content-id ID",
		Short: "List the keys of a content ID (never the key values)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkContentID("--content-id", listContent); err != nil {
				return err
			}
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				ks, err := st.List(cmd.Context(), listContent)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tCONTENT\tTYPE\tPERIOD\tSTATE\tCREATED")
				for _, k := range ks {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", k.KID, k.ContentID, k.TrackType, k.Period, k.State, k.CreatedAt.UTC().Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&listContent, "content-id", "", "content ID (required)")
	_ = list.MarkFlagRequired("content-id")

	var reveal bool
	show := newArgCmd("show KID [--reveal]", "Show a key's metadata; the key value only with --reveal", drm.ParseKeyID,
		func(cmd *cobra.Command, kid drm.KeyID) error {
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				k, err := st.Get(cmd.Context(), kid)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "kid:        %s\ncontent:    %s\ntrack type: %s\nperiod:     %d\nstate:      %s\ncreated:    %s\n",
					k.KID, k.ContentID, k.TrackType, k.Period, k.State, k.CreatedAt.UTC().Format(time.RFC3339))
				if !k.RotatedAt.IsZero() {
					fmt.Fprintf(stdout, "rewrapped:  %s\n", k.RotatedAt.UTC().Format(time.RFC3339))
				}
				if !k.RevokedAt.IsZero() {
					fmt.Fprintf(stdout, "revoked:    %s\n", k.RevokedAt.UTC().Format(time.RFC3339))
				}
				if reveal {
					fmt.Fprintf(stdout, "key:        %s\niv:         %s\n", hex.EncodeToString(k.Key.Key), hex.EncodeToString(k.Key.IV))
				}
				return nil
			})
		})
	show.Flags().BoolVar(&reveal, "reveal", false, "also print the clear key and IV (hex)")

	var reason string
	revoke := newArgCmd("revoke KID [--reason TEXT]", "Revoke a key: marked compromised, recorded in the audit log, refused by every server", drm.ParseKeyID,
		func(cmd *cobra.Command, kid drm.KeyID) error {
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				svc, err := revocation.New(revocation.Config{}, revocation.Deps{Keys: st, Audit: st})
				if err != nil {
					return err
				}
				defer svc.Close()
				rev, _, err := svc.Revoke(cmd.Context(), entitlement.Revocation{Kind: entitlement.RevokeKID, Value: kid.String(), By: "cli", Reason: reason})
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "revoked %s\nrecorded in the audit log at %s; running servers apply it at their next re-sync (policy.revocations.resync_interval), servers started later at startup\n",
					rev.Value, rev.At.Format(time.RFC3339Nano))
				return nil
			})
		})
	revoke.Long = `Revoke marks a key revoked (compromised) so that the next packaging or
rotation gets a new key, and records the revocation in the store's audit
log, as the admin API does. No license is issued for the KID again: a
server started later restores the revocation from the audit log, and a
running one applies it at its next re-sync (policy.revocations.resync_interval).`
	revoke.Flags().StringVar(&reason, "reason", "", "why (audited)")

	var rotate bool
	rewrap := &cobra.Command{
		Use:   "rewrap [--rotate-kek]",
		Short: "Re-wrap every key under the current key-encryption key (optionally create a new KEK first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				if rotate {
					ref, err := st.RotateKEK(cmd.Context())
					if err != nil {
						return err
					}
					fmt.Fprintf(stdout, "new KEK version %s\n", ref)
				}
				n, err := st.Rewrap(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "re-wrapped %d key(s)\n", n)
				return nil
			})
		},
	}
	rewrap.Flags().BoolVar(&rotate, "rotate-kek", false, "create a new KEK version first (the old ones stay readable)")

	cmd.AddCommand(create, list, show, revoke, rewrap)
	cmd.AddCommand(newKeysExportCmd(stdout, &conf), newKeysBrokerURLCmd(stdout, &conf), newKeysAuditCmd(stdout, &conf))
	return cmd
}
