package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// migrations is the one schema history shared by every SQL backend.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrate brings the schema up to date. Processes starting together on a
// fresh database must not both apply a migration: SQLite callers hold a
// file lock around it, PostgreSQL callers pass goose's advisory-lock
// session locker in opts.
func migrate(ctx context.Context, db *sql.DB, d goose.Dialect, opts ...goose.ProviderOption) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	p, err := goose.NewProvider(d, db, sub, append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}, opts...)...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	return nil
}
