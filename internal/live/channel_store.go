package live

import (
	"context"
	"errors"
	"fmt"

	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
)

// channelTable is what Channels needs of the key store's database
// (*sqlstore.Store implements it).
type channelTable interface {
	CreateChannel(ctx context.Context, r sqlstore.ChannelRecord) error
	Channel(ctx context.Context, name string) (sqlstore.ChannelRecord, error)
	Channels(ctx context.Context) ([]sqlstore.ChannelRecord, error)
	DeleteChannel(ctx context.Context, name string) error
}

// Channels keeps channel definitions in the key store's database.
type Channels struct{ table channelTable }

// NewChannels returns the channel registry on table.
func NewChannels(table channelTable) *Channels { return &Channels{table: table} }

// Create validates c (after defaults) and stores it.
func (s *Channels) Create(ctx context.Context, c Channel) (Channel, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return Channel{}, err
	}
	data, err := c.MarshalSpec()
	if err != nil {
		return Channel{}, err
	}
	err = s.table.CreateChannel(ctx, sqlstore.ChannelRecord{Name: c.Name, Spec: data, CreatedAt: c.CreatedAt})
	if errors.Is(err, sqlstore.ErrChannelExists) {
		return Channel{}, fmt.Errorf("%w: %q", ErrChannelExists, c.Name)
	}
	return c, err
}

// Get returns the channel name; an unknown one gives ErrChannelNotFound.
func (s *Channels) Get(ctx context.Context, name string) (Channel, error) {
	r, err := s.table.Channel(ctx, name)
	if errors.Is(err, sqlstore.ErrChannelNotFound) {
		return Channel{}, fmt.Errorf("%w: %q", ErrChannelNotFound, name)
	}
	if err != nil {
		return Channel{}, err
	}
	return UnmarshalChannel(r.Name, r.CreatedAt, r.Spec)
}

// List returns every channel by name.
func (s *Channels) List(ctx context.Context) ([]Channel, error) {
	rs, err := s.table.Channels(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Channel, 0, len(rs))
	for _, r := range rs {
		c, err := UnmarshalChannel(r.Name, r.CreatedAt, r.Spec)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Delete removes the channel definition; its keys and published output
// stay.
func (s *Channels) Delete(ctx context.Context, name string) error {
	err := s.table.DeleteChannel(ctx, name)
	if errors.Is(err, sqlstore.ErrChannelNotFound) {
		return fmt.Errorf("%w: %q", ErrChannelNotFound, name)
	}
	return err
}

// URLs are where an encoder pushes a channel and where players read it.
type URLs struct {
	// Ingest is the per-object base (ffmpeg -f dash ... INGEST/stream.mpd);
	// IngestVideo and IngestAudio are long-POST track URLs.
	Ingest, IngestVideo, IngestAudio string
	DASH, HLS                        string
}

// ChannelURLs returns the URLs of channel name on a server at base
// ("http://127.0.0.1:8080").
func ChannelURLs(base, name string) URLs {
	return URLs{
		Ingest:      base + IngestPrefix + name + "/",
		IngestVideo: base + IngestPrefix + name + "/Streams(video.cmfv)",
		IngestAudio: base + IngestPrefix + name + "/Streams(audio.cmfa)",
		DASH:        base + OutputPrefix + name + "/" + ManifestName,
		HLS:         base + OutputPrefix + name + "/" + MultivariantName,
	}
}

// URL prefixes and manifest names of live channels.
const (
	IngestPrefix     = "/ingest/"
	OutputPrefix     = "/live/"
	ManifestName     = "manifest.mpd"
	MultivariantName = "master.m3u8"
	// TimePath serves the server's clock for DASH UTCTiming
	// (urn:mpeg:dash:utc:http-iso:2014).
	TimePath = "/live/time"
)
