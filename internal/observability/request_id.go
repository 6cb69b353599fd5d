package observability

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
)

// RequestIDHeader is the header a request ID is read from and echoed in.
const RequestIDHeader = "X-Request-ID"

// maxRequestIDLen bounds an incoming request ID; longer ones are replaced.
const maxRequestIDLen = 64

type requestIDKey struct{}

// WithRequestID returns a context carrying the request ID id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewRequestID returns a fresh random request ID: 16 base64url characters
// (96 bits), a shape the log redactor never mistakes for a key.
func NewRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// RequestIDFromHeader returns the client's X-Request-ID when it is a safe
// correlation handle (1 to 64 characters of [A-Za-z0-9._-] that does not
// look like a secret), and a new ID otherwise.
func RequestIDFromHeader(h http.Header) string {
	id := h.Get(RequestIDHeader)
	if validRequestID(id) {
		return id
	}
	return NewRequestID()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return !LooksSecret(id)
}

// RequestIDMiddleware puts a request ID (RequestIDFromHeader) in each
// request's context and echoes it in the response's X-Request-ID header.
func RequestIDMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := RequestIDFromHeader(r.Header)
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(WithRequestID(r.Context(), id)))
	})
}
