// Package config loads drmpipe's configuration from one YAML file,
// environment variables (DRMPIPE_ prefix, "__" between nesting levels)
// and command-line flags, in that order of precedence (file < env <
// flag), over built-in defaults. It composes each part's settings into one
// Config, validates them with precise messages, and prints them with every
// secret masked (drmpipe config check).
//
// The section types live here for now; as each domain grows its own
// Config type, the section here becomes an alias or a field of that type.
package config
