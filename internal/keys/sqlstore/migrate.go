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

// migrate brings the schema up to date. Callers hold a cross-process lock
// around it, so processes starting together on a fresh database do not both
// apply a migration.
func migrate(ctx context.Context, db *sql.DB, d goose.Dialect) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMigrate, err)
	}
	p, err := goose.NewProvider(d, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMigrate, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrMigrate, err)
	}
	return nil
}
