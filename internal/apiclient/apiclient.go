// Package apiclient is the client side of drmpipe's JSON HTTP APIs (admin,
// jobs): a bearer API key, JSON bodies, and error answers decoded from the
// one error schema every endpoint writes ({code, message, retryAfter}, see
// internal/httperr).
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxAnswer bounds an API answer.
const maxAnswer = 16 << 20

// Client calls one API of a running drmpipe server.
type Client struct {
	// Name names the API in errors ("admin API").
	Name string
	// Server is the base URL of drmpipe serve.
	Server string
	// APIKey is sent as a bearer token (RFC 6750 §2.1).
	APIKey string
	// HTTP is the client; nil = http.DefaultClient.
	HTTP *http.Client
}

// Error is an error answer of the API.
type Error struct {
	// API is the Client's Name.
	API     string
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s answered %d %s: %s", e.API, e.Status, e.Code, e.Message)
}

// Do sends body (as JSON, when not nil) with header added, and decodes a
// 2xx answer into out (when not nil). Other answers are an *Error with the
// server's code and message; the status is returned either way (0 when no
// answer came).
func (c *Client) Do(ctx context.Context, method, path string, body any, header http.Header, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Server, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("%s %s: %w", c.Name, c.Server, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", c.Name, c.Server, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{API: c.Name, Status: resp.StatusCode}
		var m struct{ Code, Message string }
		if json.Unmarshal(b, &m) == nil {
			e.Code, e.Message = m.Code, m.Message
		}
		return resp.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s answered %d without JSON: %w", c.Name, c.Server, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, nil
}
