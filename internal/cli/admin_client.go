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

	"github.com/spf13/pflag"
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
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.server, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("admin API %s: %w", a.server, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct{ Code, Message string }
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, fmt.Errorf("admin API answered %d %s: %s", resp.StatusCode, e.Code, e.Message)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("admin API answered %d with %q: %w", resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, nil
}
