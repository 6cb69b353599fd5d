// Command drmpipe packages, encrypts and signals premium video for every DRM.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/drmpipe/drmpipe/test/interop/zz_tmpcli/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
