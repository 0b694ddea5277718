package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remote "k8s.io/cri-client/pkg"
)

// runCRIDown stops and removes every Pod sandbox (and so every container) a container runtime
// knows, through the CRI as the kubelet would: the runtime then runs CNI DEL, unmounts the
// sandbox's network namespace and lets the shims exit. The lab calls it on `lab down` after the
// kubelet is stopped; Pod processes leave the lab's cgroups, so killing by cgroup would miss some.
func runCRIDown(args []string) int {
	fs := flag.NewFlagSet("cri-down", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "the runtime's CRI socket, unix:///path")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "cri-down: --endpoint is required")
		return 2
	}
	svc, err := remote.NewRemoteRuntimeService(*endpoint, 10*time.Second, noop.NewTracerProvider(), nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-down: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sandboxes, err := svc.ListPodSandbox(ctx, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-down: list sandboxes: %v\n", err)
		return 1
	}
	// All at once: each stop waits for CNI DEL and the shim, which dominate a serial teardown.
	var failed atomic.Int32
	var wg sync.WaitGroup
	for _, s := range sandboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := svc.StopPodSandbox(ctx, s.Id); err != nil {
				fmt.Fprintf(os.Stderr, "cri-down: stop %s/%s: %v\n", s.Metadata.Namespace, s.Metadata.Name, err)
				failed.Add(1)
				return
			}
			if err := svc.RemovePodSandbox(ctx, s.Id); err != nil {
				fmt.Fprintf(os.Stderr, "cri-down: remove %s/%s: %v\n", s.Metadata.Namespace, s.Metadata.Name, err)
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	// Containers whose sandbox is gone already (none expected; removing is idempotent).
	containers, err := svc.ListContainers(ctx, &runtimeapi.ContainerFilter{})
	if err == nil {
		for _, c := range containers {
			_ = svc.StopContainer(ctx, c.Id, 0)
			if err := svc.RemoveContainer(ctx, c.Id); err != nil {
				failed.Add(1)
			}
		}
	}
	fmt.Printf("removed %d sandboxes\n", len(sandboxes))
	if failed.Load() > 0 {
		return 1
	}
	return 0
}
