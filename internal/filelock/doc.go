// Package filelock serialises processes that share a data directory (KEK
// file creation and rotation, schema migrations) with an advisory lock file.
package filelock
