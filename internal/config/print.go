package config

import (
	"fmt"
	"io"

	yamlv3 "go.yaml.in/yaml/v3"
)

// Print writes cfg as YAML with every secret masked (cfg.Masked()): the
// effective configuration that drmpipe config check shows. The output
// loads back with Load (with masked secrets).
func Print(w io.Writer, cfg *Config) error {
	enc := yamlv3.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(cfg.Masked()); err != nil {
		return fmt.Errorf("config: print: %w", err)
	}
	return enc.Close()
}
