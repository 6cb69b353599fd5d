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

// migrate brings the schema up to date. unlock-guarded callers serialise
// processes that start at the same time on a fresh database.
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
