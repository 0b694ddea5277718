package main

import (
	"flag"
	"os"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// Only what cluster DNS needs. No forward: names outside the cluster never leave the machine.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// The order plugins run in, as in CoreDNS's plugin.cfg (an unknown directive in a Corefile is
// a parse error, so this list is also what a Corefile may use).
var coreDNSDirectives = []string{"reload", "ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes", "loop"}

// runCoreDNS is CoreDNS's own main with a reduced plugin set: coremain parses the standard flag
// set (-conf, -dns.port, ...) from os.Args[1:].
func runCoreDNS(args []string) {
	dnsserver.Directives = coreDNSDirectives
	os.Args = append([]string{"coredns"}, args...)
	flag.CommandLine.Init("coredns", flag.ExitOnError)
	coremain.Run()
}
