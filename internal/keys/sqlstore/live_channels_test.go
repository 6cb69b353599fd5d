package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLiveChannels(t *testing.T) {
	eachStore(t, func(t *testing.T, ctx context.Context, s *Store) {
		at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
		if err := s.CreateChannel(ctx, ChannelRecord{Name: "news", Spec: []byte(`{"a":1}`), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateChannel(ctx, ChannelRecord{Name: "news", Spec: []byte(`{}`), CreatedAt: at}); !errors.Is(err, ErrChannelExists) {
			t.Fatalf("second create: %v, want ErrChannelExists", err)
		}
		if err := s.CreateChannel(ctx, ChannelRecord{Name: "arts", Spec: []byte(`{}`), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Channel(ctx, "news")
		if err != nil || string(got.Spec) != `{"a":1}` || !got.CreatedAt.Equal(at) {
			t.Fatalf("Channel: %+v %v", got, err)
		}
		list, err := s.Channels(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "arts" || list[1].Name != "news" {
			t.Fatalf("Channels: %+v %v", list, err)
		}
		if err := s.DeleteChannel(ctx, "news"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Channel(ctx, "news"); !errors.Is(err, ErrChannelNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.DeleteChannel(ctx, "news"); !errors.Is(err, ErrChannelNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}
