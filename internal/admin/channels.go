package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/drmpipe/drmpipe/internal/apikey"
	"github.com/drmpipe/drmpipe/internal/cenc"
	"github.com/drmpipe/drmpipe/internal/drm"
	"github.com/drmpipe/drmpipe/internal/httperr"
	"github.com/drmpipe/drmpipe/internal/live"
)

// ChannelRegistry keeps live channel definitions (*live.Channels).
type ChannelRegistry interface {
	Create(ctx context.Context, c live.Channel) (live.Channel, error)
	Get(ctx context.Context, name string) (live.Channel, error)
	List(ctx context.Context) ([]live.Channel, error)
	Delete(ctx context.Context, name string) error
}

// ChannelRuntime is the running live packager (*live.Packager).
type ChannelRuntime interface {
	// Stop ends a channel's stream and returns its archive directory.
	Stop(ctx context.Context, name string) (string, error)
	// Forget drops a deleted channel at once.
	Forget(name string)
}

// Auditor records admin actions in the store's audit log.
type Auditor interface {
	Audit(ctx context.Context, e apikey.Entry) error
}

// ChannelDeps are the channel endpoints' collaborators.
type ChannelDeps struct {
	Channels ChannelRegistry
	Runtime  ChannelRuntime
	Auth     Authenticator
	Audit    Auditor
	Log      *slog.Logger
}

// ChannelRoutes returns /v1/admin/channels (api/openapi.yaml): create,
// list, show, delete and stop live channels, for API keys of scope admin.
func ChannelRoutes(d ChannelDeps) []Route {
	h := &channelHandlers{d}
	wrap := func(fn adminFunc) http.Handler { return adminOnly(d.Auth, d.Log, fn) }
	return []Route{
		{"GET /v1/admin/channels", wrap(h.list)},
		{"POST /v1/admin/channels", wrap(h.create)},
		{"GET /v1/admin/channels/{name}", wrap(h.show)},
		{"DELETE /v1/admin/channels/{name}", wrap(h.delete)},
		{"POST /v1/admin/channels/{name}/stop", wrap(h.stop)},
	}
}

type channelHandlers struct{ d ChannelDeps }

// ChannelJSON is a channel as the admin API shows it (and takes it on
// create: durations in Go syntax, "2s", "1m").
type ChannelJSON struct {
	Name            string      `json:"name"`
	SegmentDuration string      `json:"segmentDuration,omitempty"`
	KeyPeriod       string      `json:"keyPeriod,omitempty"`
	Window          string      `json:"window,omitempty"`
	Scheme          string      `json:"scheme,omitempty"`
	DRM             []string    `json:"drm,omitempty"`
	KeysPer         string      `json:"keysPer,omitempty"`
	Archive         bool        `json:"archive,omitempty"`
	CreatedAt       *time.Time  `json:"createdAt,omitempty"`
	URLs            *ChannelURL `json:"urls,omitempty"`
}

// ChannelURL are a channel's ingest and playback URLs.
type ChannelURL struct {
	Ingest      string `json:"ingest"`
	IngestVideo string `json:"ingestVideo"`
	IngestAudio string `json:"ingestAudio"`
	DASH        string `json:"dash"`
	HLS         string `json:"hls"`
}

// ChannelToJSON is c with its URLs on a server at base.
func ChannelToJSON(c live.Channel, base string) ChannelJSON {
	j := ChannelJSON{Name: c.Name, SegmentDuration: c.SegmentDuration.String(), KeyPeriod: c.KeyPeriod.String(), Window: c.Window.String(),
		Scheme: c.Scheme.String(), KeysPer: c.KeysPer.String(), Archive: c.Archive}
	for _, s := range c.Systems {
		j.DRM = append(j.DRM, s.String())
	}
	if !c.CreatedAt.IsZero() {
		t := c.CreatedAt.UTC()
		j.CreatedAt = &t
	}
	u := live.ChannelURLs(base, c.Name)
	j.URLs = &ChannelURL{Ingest: u.Ingest, IngestVideo: u.IngestVideo, IngestAudio: u.IngestAudio, DASH: u.DASH, HLS: u.HLS}
	return j
}

// Channel turns a create request into a channel; the error names the
// field.
func (j ChannelJSON) Channel() (live.Channel, error) {
	c := live.Channel{Name: j.Name, Archive: j.Archive}
	for _, f := range []struct {
		name string
		v    string
		to   *time.Duration
	}{{"segmentDuration", j.SegmentDuration, &c.SegmentDuration}, {"keyPeriod", j.KeyPeriod, &c.KeyPeriod}, {"window", j.Window, &c.Window}} {
		if f.v == "" {
			continue
		}
		d, err := time.ParseDuration(f.v)
		if err != nil {
			return c, badRequest(f.name + ": " + err.Error())
		}
		*f.to = d
	}
	var err error
	if j.Scheme != "" {
		if c.Scheme, err = cenc.ParseScheme(j.Scheme); err != nil {
			return c, badRequest("scheme: " + err.Error())
		}
	}
	for _, name := range j.DRM {
		sys, err := drm.ParseSystems(name)
		if err != nil {
			return c, badRequest("drm: " + err.Error())
		}
		c.Systems = append(c.Systems, sys...)
	}
	if j.KeysPer != "" {
		if c.KeysPer, err = live.ParseKeysPer(j.KeysPer); err != nil {
			return c, badRequest("keysPer: " + err.Error())
		}
	}
	return c, nil
}

// baseURL is the server's URL as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// channelError maps the live registry's errors to answers.
func channelError(err error) error {
	switch {
	case errors.Is(err, live.ErrInvalidChannel):
		return badRequest(err.Error())
	case errors.Is(err, live.ErrChannelNotFound):
		return httperr.Wrap(err, http.StatusNotFound, httperr.CodeNotFound, err.Error())
	case errors.Is(err, live.ErrChannelExists):
		return httperr.Wrap(err, http.StatusConflict, httperr.CodeInvalidRequest, err.Error())
	}
	return httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "channel store unavailable")
}

func (h *channelHandlers) audit(ctx context.Context, who, action, name string) {
	if err := h.d.Audit.Audit(ctx, apikey.Entry{Actor: who, Action: action, Target: name, At: time.Now()}); err != nil {
		h.d.Log.Warn("admin: audit record failed", "action", action, "channel", name, "error", err.Error())
	}
}

func (h *channelHandlers) list(w http.ResponseWriter, r *http.Request, _ string) error {
	cs, err := h.d.Channels.List(r.Context())
	if err != nil {
		return channelError(err)
	}
	out := make([]ChannelJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, ChannelToJSON(c, baseURL(r)))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"channels": out})
}

func (h *channelHandlers) create(w http.ResponseWriter, r *http.Request, who string) error {
	var req ChannelJSON
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequest("body must be a JSON channel {name, segmentDuration, keyPeriod, window, scheme, drm, keysPer, archive}: " + err.Error())
	}
	c, err := req.Channel()
	if err != nil {
		return err
	}
	c.CreatedAt = time.Now().UTC()
	if c, err = h.d.Channels.Create(r.Context(), c); err != nil {
		return channelError(err)
	}
	h.audit(r.Context(), who, "channel.create", c.Name)
	return writeJSON(w, http.StatusCreated, ChannelToJSON(c, baseURL(r)))
}

func (h *channelHandlers) show(w http.ResponseWriter, r *http.Request, _ string) error {
	c, err := h.d.Channels.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return channelError(err)
	}
	return writeJSON(w, http.StatusOK, ChannelToJSON(c, baseURL(r)))
}

func (h *channelHandlers) delete(w http.ResponseWriter, r *http.Request, who string) error {
	name := r.PathValue("name")
	if err := h.d.Channels.Delete(r.Context(), name); err != nil {
		return channelError(err)
	}
	h.d.Runtime.Forget(name)
	h.audit(r.Context(), who, "channel.delete", name)
	return writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

func (h *channelHandlers) stop(w http.ResponseWriter, r *http.Request, who string) error {
	name := r.PathValue("name")
	dir, err := h.d.Runtime.Stop(r.Context(), name)
	if err != nil {
		if errors.Is(err, live.ErrInvalidChannel) || errors.Is(err, live.ErrChannelNotFound) {
			return channelError(err)
		}
		if errors.Is(err, live.ErrChannelHeld) || errors.Is(err, live.ErrLeaseLost) {
			// Another replica packages the channel: stop it there.
			he := httperr.Wrap(err, http.StatusConflict, httperr.CodeChannelHeld, err.Error())
			he.RetryAfter = 1
			return he
		}
		return httperr.Wrap(err, http.StatusServiceUnavailable, httperr.CodeUnavailable, "stopping the channel failed; retry")
	}
	h.audit(r.Context(), who, "channel.stop", name)
	out := map[string]string{"stopped": name}
	if dir != "" {
		// The archive is served by the origin under /content/.
		out["archive"] = baseURL(r) + "/content/" + filepath.Base(dir) + "/" + live.ManifestName
	}
	return writeJSON(w, http.StatusOK, out)
}
