package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/drmpipe/drmpipe/internal/packager"
	"github.com/drmpipe/drmpipe/internal/storage"
)

// packageStorage wires s3:// inputs, --text files and an s3://bucket/prefix
// output (-o) into cfg, with the S3 client configured from the standard AWS
// environment (storage.S3ConfigFromEnv). It returns nil when no location
// is in S3. The S3 output's counts are read after the run with stats.
type packageStorage struct {
	out *storage.S3Output
}

func wirePackageStorage(cfg *packager.Config) (*packageStorage, error) {
	s3Used := storage.IsS3(cfg.OutputDir)
	for _, in := range cfg.Inputs {
		s3Used = s3Used || storage.IsS3(in)
	}
	for _, t := range cfg.Texts {
		s3Used = s3Used || storage.IsS3(t.Path)
	}
	if !s3Used {
		return nil, nil
	}
	for _, in := range cfg.Inputs {
		if storage.IsS3(in) {
			if _, err := storage.ParseS3(in); err != nil {
				return nil, err
			}
		}
	}
	client, err := storage.NewS3(storage.S3ConfigFromEnv(os.Getenv))
	if err != nil {
		return nil, err
	}
	cfg.Open = storage.Opener{S3: client}
	ps := &packageStorage{}
	if storage.IsS3(cfg.OutputDir) {
		loc, err := storage.ParseS3(cfg.OutputDir)
		if err != nil {
			return nil, fmt.Errorf("--output: %w", err)
		}
		cfg.Output = func(ctx context.Context) (storage.Output, error) {
			out, err := client.OpenOutput(ctx, loc)
			if err != nil {
				return nil, err
			}
			ps.out = out
			return out, nil
		}
	}
	return ps, nil
}

// report prints what the run did to its S3 prefix.
func (ps *packageStorage) report(w io.Writer) {
	if ps == nil || ps.out == nil {
		return
	}
	st := ps.out.Stats()
	fmt.Fprintf(w, "  %s: %d object(s) uploaded (%.1f MB), %d unchanged, %d deleted\n",
		ps.out.Location(), st.Uploaded, float64(st.UploadedBytes)/1e6, st.Unchanged, st.Deleted)
}
