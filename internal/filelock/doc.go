// Package filelock serialises processes that share a data directory (KEK
// file creation and rotation, schema migrations) or an output directory
// (packaging runs) with an advisory lock file.
package filelock
