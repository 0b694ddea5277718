package main

import (
	"fmt"
	"runtime/debug"
)

// versionString reports the component versions compiled in, read from the build info so it
// cannot drift from go.mod.
func versionString() string {
	k8s, etcd := "unknown", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			switch dep.Path {
			case "k8s.io/kubernetes":
				k8s = dep.Version
			case "go.etcd.io/etcd/server/v3":
				etcd = dep.Version
			}
		}
	}
	return fmt.Sprintf("kubernetes %s, etcd %s", k8s, etcd)
}
