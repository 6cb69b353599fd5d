package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/drmpipe/drmpipe/internal/apiclient"
)

// adminClient calls the admin API of a running server (scope admin).
type adminClient struct {
	server, apiKey string
}

// register adds --server and --api-key; serverDefault "" means the
// command works on the data directory unless --server is given.
func (a *adminClient) register(fl *pflag.FlagSet, serverDefault string) {
	fl.StringVar(&a.server, "server", serverDefault, "drmpipe server URL (admin API)")
	fl.StringVar(&a.apiKey, "api-key", os.Getenv("DRMPIPE_API_KEY"), "admin API key; env DRMPIPE_API_KEY")
}

// do sends body (JSON, when not nil) and decodes a 2xx answer into out.
// Other answers become an error with the server's code and message.
func (a *adminClient) do(ctx context.Context, method, path string, body, out any) (int, error) {
	if a.apiKey == "" {
		return 0, fmt.Errorf("an admin API key is required: --api-key or DRMPIPE_API_KEY")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	api := apiclient.Client{Name: "admin API", Server: a.server, APIKey: a.apiKey}
	return api.Do(ctx, method, path, body, nil, out)
}
