package config

import (
	"github.com/drmpipe/drmpipe/internal/server/httpconf"
)

// ServerConfig is the server section: the HTTP listener of drmpipe serve
// (package server/httpconf owns its keys, defaults and checks, inline
// here) and two settings of the whole program, the data directory and demo
// mode.
type ServerConfig struct {
	httpconf.Config `koanf:",squash" yaml:",inline"`
	// DataDir holds the SQLite store, the local KEK file and the token
	// signing key.
	DataDir string `koanf:"data_dir" yaml:"data_dir"`
	// Demo serves the demo player page and lets drmpipe mint its own
	// playback tokens without an operator JWKS. Never in production.
	Demo bool `koanf:"demo" yaml:"demo"`
}

// DefaultDataDir is the data directory when none is configured.
const DefaultDataDir = "data"

func defaultServer() ServerConfig {
	return ServerConfig{Config: httpconf.Default(), DataDir: DefaultDataDir}
}

// Validate checks the listener and the data directory.
func (c ServerConfig) Validate() error {
	var errs errList
	errs.domain(c.Config.Validate("server"))
	if c.DataDir == "" {
		errs.add("server.data_dir", "must not be empty")
	}
	return errs.err()
}
