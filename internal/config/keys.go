package config

import "github.com/drmpipe/drmpipe/internal/keys/delivery"

// KeysConfig is the keys section: the strict broker's settings (package
// keys/delivery, inline) and the admin API's key reveal switch.
type KeysConfig struct {
	delivery.BrokerConfig `koanf:",squash" yaml:",inline"`
	// AllowReveal lets GET /v1/admin/keys/{kid}?reveal=true return the
	// clear key to an admin API key. Off by default.
	AllowReveal bool `koanf:"allow_reveal" yaml:"allow_reveal"`
}

func defaultKeys() KeysConfig { return KeysConfig{BrokerConfig: delivery.DefaultBrokerConfig()} }
