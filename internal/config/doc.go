// Package config loads drmpipe's configuration from one YAML file,
// environment variables (DRMPIPE_ prefix, "__" between nesting levels)
// and command-line flags, in that order of precedence (file < env <
// flag), over built-in defaults. It composes each part's own Config type
// (entitlement.PolicyConfig and TokensConfig, speke.Config, sqlstore.Config,
// redisclient.Config, httpconf.Config, license.Config, upstream.Config, the
// KMS backends', observability.Config) into one Config, validates them with
// the keys the file uses, and prints them with every secret masked (drmpipe
// config check). Each domain owns its keys, defaults and checks; config
// only declares how sections are composed (KMS backend choice, the server
// section's data_dir and demo, the key broker's settings until the broker
// has a package of its own) and the values derived from the data directory.
package config
