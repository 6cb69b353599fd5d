package cli

import (
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/drmpipe/drmpipe/internal/config"
	"github.com/drmpipe/drmpipe/internal/cpix"
	"github.com/drmpipe/drmpipe/internal/keys"
	"github.com/drmpipe/drmpipe/internal/keys/delivery"
	"github.com/drmpipe/drmpipe/internal/keys/keystore"
	"github.com/drmpipe/drmpipe/internal/storage"
)

// newKeysExportCmd is `drmpipe keys export --cpix`: the active keys of a
// content ID as a CPIX 2.3 document, encrypted to a recipient certificate
// (CPIX 2.3 §"Content Key Encryption"), or in clear with --plain.
func newKeysExportCmd(stdout io.Writer, conf *configFlags) *cobra.Command {
	var (
		asCPIX, plain        bool
		contentID, cert, out string
	)
	cmd := &cobra.Command{
		Use:   "export --cpix --content-id ID (--cert RECIPIENT.pem | --plain) [-o FILE]",
		Short: "Write the active keys of a content ID as a CPIX document encrypted to a certificate",
		Long: `Export writes a CPIX 2.3 document with every active key of the content ID,
its track type (usage rule) and crypto period. The keys are encrypted to the
RSA certificate given with --cert (RSA-OAEP document key, AES-256-CBC, HMAC-SHA512);
the holder of its private key reads them with drmpipe package --cpix FILE --cpix-key KEY.pem.
--plain writes clear keys instead: anyone who can read the file has them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asCPIX {
				return fmt.Errorf("choose the export format: --cpix (the only one)")
			}
			if (cert == "") == !plain {
				return fmt.Errorf("give --cert RECIPIENT.pem to encrypt the keys, or --plain for clear keys (not both)")
			}
			if err := checkContentID("--content-id", contentID); err != nil {
				return err
			}
			var recipient []byte
			if cert != "" {
				b, err := os.ReadFile(cert)
				if err != nil {
					return fmt.Errorf("--cert: %w", err)
				}
				recipient = b
			}
			return conf.withStore(cmd.Context(), func(st *keystore.KeyStore) error {
				list, err := st.List(cmd.Context(), contentID)
				if err != nil {
					return err
				}
				var ks []delivery.CPIXKey
				for _, rec := range list {
					if rec.State != keys.StateActive {
						continue
					}
					k, err := st.Get(cmd.Context(), rec.KID)
					if err != nil {
						return err
					}
					ks = append(ks, delivery.CPIXKey{Key: k.Key, TrackType: k.TrackType, Period: k.Period})
				}
				if len(ks) == 0 {
					return fmt.Errorf("content %q has no active keys (create them with drmpipe keys create or drmpipe package --content-id)", contentID)
				}
				doc := delivery.ContentCPIX(contentID, ks)
				defer func() {
					for i := range doc.ContentKeys {
						clear(doc.ContentKeys[i].Value)
					}
					for i := range ks {
						clear(ks[i].Key.Key)
					}
				}()
				if plain {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning: --plain writes clear content keys; anyone who can read the output has them")
				} else {
					c, err := delivery.ParseCertificatePEM(recipient)
					if err != nil {
						return fmt.Errorf("--cert %s: %w", cert, err)
					}
					if err := cpix.EncryptKeys(doc, c); err != nil {
						return fmt.Errorf("--cert %s: %w", cert, err)
					}
				}
				b, err := cpix.Marshal(doc)
				if err != nil {
					return err
				}
				if out == "" || out == "-" {
					_, err = stdout.Write(b)
					return err
				}
				return storage.WriteFileAtomic(out, b, 0o600)
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&asCPIX, "cpix", false, "write a CPIX 2.3 document (required)")
	fl.StringVar(&contentID, "content-id", "", "content ID (required)")
	fl.StringVar(&cert, "cert", "", "PEM X.509 certificate (RSA, 2048 bits or more) of the recipient")
	fl.StringVarP(&out, "output", "o", "", "output file, created 0600 (default: standard output)")
	fl.BoolVar(&plain, "plain", false, "write clear keys (no --cert); prints a warning")
	_ = cmd.MarkFlagRequired("content-id")
	return cmd
}

// newKeysBrokerURLCmd is `drmpipe keys broker-url`: a signed, expiring URL
// through which a packaging worker fetches one content's keys from `drmpipe
// serve` (strict-broker delivery), computed locally with keys.broker_hmac_key.
func newKeysBrokerURLCmd(stdout io.Writer, conf *configFlags) *cobra.Command {
	var (
		contentID, keysPer, cert, base string
		ttl                            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "broker-url --content-id ID [--keys-per asset|track-type] [--cert WORKER.pem] [--ttl D] [--base-url URL]",
		Short: "Print a signed, expiring URL through which a packaging worker fetches one content's keys",
		Long: `Broker-url signs (HMAC-SHA256 with keys.broker_hmac_key) a URL of drmpipe serve's
/v1/broker/cpix endpoint for one content ID and keys-per mode, valid for --ttl
(at most keys.broker_url_ttl). With --cert the URL only serves the public key
of that certificate. The worker runs:
  drmpipe package --cpix 'URL' --cpix-key WORKER-KEY.pem ...
and receives the keys encrypted to its key; it needs no store or KMS access.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := conf.load()
			if err != nil {
				return err
			}
			key, err := delivery.ParseBrokerKey(cfg.Keys.BrokerHMACKey)
			if err != nil {
				return fmt.Errorf("keys.broker_hmac_key: %w", err)
			}
			if key == nil {
				return fmt.Errorf("strict-broker delivery is off: set keys.broker_hmac_key (32 or more bytes, hex or base64)")
			}
			if err := checkContentID("--content-id", contentID); err != nil {
				return err
			}
			per, err := delivery.ParseKeysPer(keysPer)
			if err != nil {
				return fmt.Errorf("--keys-per: %q (want asset or track-type)", keysPer)
			}
			maxTTL := cfg.Keys.BrokerURLTTL
			if ttl == 0 {
				ttl = maxTTL
			}
			if ttl <= 0 || ttl > maxTTL {
				return fmt.Errorf("--ttl %s: want a positive duration up to keys.broker_url_ttl (%s)", ttl, maxTTL)
			}
			g := delivery.BrokerGrant{ContentID: contentID, KeysPer: per, Expires: time.Now().Add(ttl)}
			if cert != "" {
				b, err := os.ReadFile(cert)
				if err != nil {
					return fmt.Errorf("--cert: %w", err)
				}
				c, err := delivery.ParseCertificatePEM(b)
				if err != nil {
					return fmt.Errorf("--cert %s: %w", cert, err)
				}
				g.Recipient = delivery.RecipientFingerprint(c)
			}
			if base == "" {
				base = defaultBaseURL(cfg)
			}
			u, err := delivery.SignBrokerURL(key, base, g)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, u)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&contentID, "content-id", "", "content ID (required)")
	fl.StringVar(&keysPer, "keys-per", "asset", "asset (one key) or track-type (AUDIO, SD, HD, UHD1, UHD2)")
	fl.StringVar(&cert, "cert", "", "PEM certificate of the worker: bind the URL to its public key")
	fl.DurationVar(&ttl, "ttl", 0, "lifetime of the URL (default and maximum: keys.broker_url_ttl)")
	fl.StringVar(&base, "base-url", "", "scheme and host of drmpipe serve as workers reach it (default from server.listen and server.tls)")
	_ = cmd.MarkFlagRequired("content-id")
	return cmd
}

// defaultBaseURL derives the server's URL from its listen address: https
// with TLS, and localhost for a wildcard host.
func defaultBaseURL(cfg *config.Config) string {
	scheme := "http"
	if cfg.Server.TLS.Enabled() {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		return scheme + "://localhost"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
