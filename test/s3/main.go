// cloudtaser's S3 server for tests: versitygw's gateway (embedgw) over its POSIX backend, with
// object metadata in a sidecar directory instead of xattrs so the tests can read every byte the
// server stores (object bodies under -root, metadata under -meta) without xattr support on /tmp.
// Started by lib/s3-server; built by ./build.sh.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/debuglogger"
	"github.com/versity/versitygw/embedgw"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7070", "listen address")
	root := flag.String("root", "", "directory holding the buckets (object bodies)")
	metaDir := flag.String("meta", "", "directory holding object metadata (outside -root)")
	region := flag.String("region", "us-east-1", "region reported to clients")
	flag.Parse()
	access, secret := os.Getenv("ROOT_ACCESS_KEY"), os.Getenv("ROOT_SECRET_KEY")
	if *root == "" || *metaDir == "" || access == "" || secret == "" {
		log.Fatal("-root, -meta, ROOT_ACCESS_KEY and ROOT_SECRET_KEY are required")
	}
	sc, err := meta.NewSideCar(*metaDir)
	if err != nil {
		log.Fatalf("sidecar metadata: %v", err)
	}
	// CopyObject is refused above this size; 0 would refuse every copy (S3 allows 5 GiB).
	opts := posix.PosixOpts{SideCarDir: *metaDir, Concurrency: 64, CopyObjectThreshold: 5 << 30}
	opts.SetNewDirPerm(0o755)
	opts.SetNewFilePerm(0o644)
	be, err := posix.New(*root, sc, opts)
	if err != nil {
		log.Fatalf("posix backend: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = embedgw.RunVersityGW(ctx, be, &embedgw.Config{
		RootUserAccess:    access,
		RootUserSecret:    secret,
		Region:            *region,
		Ports:             []string{*addr},
		MaxConnections:    250,
		MaxRequests:       250,
		MultipartMaxParts: 10000,
		LogLevel:          debuglogger.LevelSilent,
		Quiet:             true,
		HealthPath:        "/health",
		// As S3 does: without it every answer says Connection: close, so every request through the
		// proxy (and every direct one) paid a new TCP connection, which real S3 clients do not.
		KeepAlive: true,
	})
	if err != nil && err != context.Canceled {
		log.Fatalf("gateway: %v", err)
	}
}
