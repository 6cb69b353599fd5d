package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
)

func newAPIKeyCmd(stdout io.Writer) *cobra.Command {
	var conf configFlags
	cmd := &cobra.Command{Use: "apikey", Short: "Manage API keys for encryptors (speke), admins (admin), token minting (license-token), live encoders (ingest) and packaging jobs (package)"}
	conf.register(cmd.PersistentFlags())
	var scopes, name string
	create := &cobra.Command{
		Use:   "create --scope speke|admin|license-token|ingest|package[,...] [--name NAME]",
		Short: "Create an API key and print it once (only its hash is stored)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := apikey.ParseScopes(scopes)
			if err != nil {
				return err
			}
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				tok, k, err := st.APIKeys().Create(cmd.Context(), name, sc)
				if err != nil {
					return err
				}
				_ = st.Audit(cmd.Context(), apikey.Entry{Actor: "cli", Action: "apikey.create", Target: k.ID, At: time.Now(), Detail: apikey.FormatScopes(sc)})
				fmt.Fprintln(stdout, tok)
				return nil
			})
		},
	}
	create.Flags().StringVar(&scopes, "scope", "", "comma-separated scopes (required)")
	create.Flags().StringVar(&name, "name", "", "a name to recognise the key by")
	_ = create.MarkFlagRequired("scope")
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never the tokens)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				ks, err := st.APIKeys().List(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tREVOKED")
				for _, k := range ks {
					rev := ""
					if k.Revoked() {
						rev = k.RevokedAt.UTC().Format(time.RFC3339)
					}
					names := make([]string, len(k.Scopes))
					for i, s := range k.Scopes {
						names[i] = s.String()
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(names, ","), k.CreatedAt.UTC().Format(time.RFC3339), rev)
				}
				return tw.Flush()
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				if err := st.APIKeys().Revoke(cmd.Context(), args[0]); err != nil {
					return err
				}
				_ = st.Audit(cmd.Context(), apikey.Entry{Actor: "cli", Action: "apikey.revoke", Target: args[0], At: time.Now()})
				fmt.Fprintf(stdout, "revoked %s\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
