package observability

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// LogConfig configures the process logger. The zero value logs at info.
type LogConfig struct {
	// Level is the minimum level: debug, info, warn or error.
	Level string `koanf:"level" yaml:"level"`
}

// ParseLevel parses a log level name (debug, info, warn, error; case
// insensitive). The empty string is info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("%w: log level %q (want debug, info, warn or error)", ErrConfig, s)
}

// Validate checks the level name.
func (c LogConfig) Validate() error {
	_, err := ParseLevel(c.Level)
	return err
}

// NewLogger returns a JSON logger writing to w at the configured level
// (info if the level does not parse; call Validate first to reject it).
// Every record goes through a RedactingHandler, and records logged with a
// context carry that context's request ID and trace/span IDs.
func NewLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	lvl, err := ParseLevel(cfg.Level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(NewRedactingHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})))
}

// RedactingHandler wraps a slog.Handler and masks secrets before they reach
// it: values of attributes with secret names (IsSecretKey) become Mask, and
// secret-looking substrings (LooksSecret) in messages and any other value
// are replaced by Mask. It is defense in depth: code must still never log
// keys or tokens.
type RedactingHandler struct {
	next slog.Handler
}

var _ slog.Handler = (*RedactingHandler)(nil)

// NewRedactingHandler wraps next.
func NewRedactingHandler(next slog.Handler) *RedactingHandler {
	return &RedactingHandler{next: next}
}

// Enabled implements slog.Handler.
func (h *RedactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle implements slog.Handler: it scrubs the message and attributes and
// adds request_id, trace_id and span_id from ctx.
func (h *RedactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, RedactString(r.Message), r.PC)
	if ctx != nil {
		if id := RequestID(ctx); id != "" {
			out.AddAttrs(slog.String("request_id", id))
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			out.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *RedactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return &RedactingHandler{next: h.next.WithAttrs(red)}
}

// WithGroup implements slog.Handler.
func (h *RedactingHandler) WithGroup(name string) slog.Handler {
	return &RedactingHandler{next: h.next.WithGroup(name)}
}

// redactAttr returns a copy of a with secrets masked, recursing into groups.
func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		g := v.Group()
		red := make([]any, 0, len(g))
		for _, ga := range g {
			red = append(red, redactAttr(ga))
		}
		return slog.Group(a.Key, red...)
	}
	if IsSecretKey(a.Key) {
		if v.Kind() == slog.KindString && v.String() == "" {
			return slog.String(a.Key, "")
		}
		return slog.String(a.Key, Mask)
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, redactValue(a.Key, v.String()))
	case slog.KindAny:
		return slog.Any(a.Key, redactAny(a.Key, v.Any()))
	default: // numbers, bools, durations, times: nothing to hide
		return slog.Attr{Key: a.Key, Value: v}
	}
}

// redactAny handles values of kind Any: errors and Stringers are rendered
// and scrubbed; byte slices (possible raw keys) are never logged; other
// values are kept unless their JSON form looks secret.
func redactAny(name string, x any) any {
	switch t := x.(type) {
	case nil:
		return nil
	case []byte:
		return fmt.Sprintf("[%d bytes]", len(t))
	case error:
		return redactValue(name, t.Error())
	case fmt.Stringer:
		return redactValue(name, t.String())
	case encoding.TextMarshaler:
		b, err := t.MarshalText()
		if err != nil {
			return Mask
		}
		return redactValue(name, string(b))
	}
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprintf("[unloggable %T]", x)
	}
	if !publicKeys[strings.ToLower(name)] && LooksSecret(string(b)) {
		return RedactString(string(b))
	}
	return x
}
