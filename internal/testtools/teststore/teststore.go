// Package teststore opens the real SQLite key store, its keys wrapped by
// the local KMS, in a temp dir for the tests of packages above
// keys/sqlstore. It lives apart from testtools because sqlstore's own tests
// import testtools. It is imported only from _test.go files.
package teststore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/drmpipe/drmpipe/internal/keys/kms/local"
	"github.com/drmpipe/drmpipe/internal/keys/sqlstore"
)

// Open opens a fresh key store (SQLite keys.db and a local KMS key in a
// temp dir) and closes it when the test ends.
func Open(t testing.TB) *sqlstore.Store {
	t.Helper()
	dir := t.TempDir()
	w, err := local.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(context.Background(), filepath.Join(dir, "keys.db"), w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
