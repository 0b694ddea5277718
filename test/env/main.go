// Command cloudtaser-controlplane is a multi-call binary for cloudtaser's local test control
// plane. Each subcommand is an upstream component's own main, taking the upstream flags
// unchanged, so the TypeScript harness (lib/lab) can run each as its own process group:
//
//	cloudtaser-controlplane etcd [etcd flags]
//	cloudtaser-controlplane kube-apiserver [kube-apiserver flags]
//	cloudtaser-controlplane kube-controller-manager [kube-controller-manager flags]
//	cloudtaser-controlplane kube-scheduler [kube-scheduler flags]
//	cloudtaser-controlplane kubelet [kubelet flags]
//	cloudtaser-controlplane kube-proxy [kube-proxy flags]
//	cloudtaser-controlplane coredns -conf Corefile (cluster-DNS plugins only, see coredns.go)
//	cloudtaser-controlplane cri-down --endpoint unix:///path/containerd.sock
//	cloudtaser-controlplane kubectl [kubectl args]
//	cloudtaser-controlplane pki --dir DIR [--hosts 127.0.0.1,localhost]
//	cloudtaser-controlplane version
//
// Invoked through a symlink named kubectl (`lab up` puts one in its state directory), it runs
// kubectl, like busybox.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	// CronJob time zones must resolve without the host's zoneinfo, as in upstream's main.
	_ "time/tzdata"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	_ "k8s.io/component-base/metrics/prometheus/workqueue"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

const usage = "usage: cloudtaser-controlplane etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|coredns|cri-down|kubectl|pki|version [flags]"

func main() {
	if filepath.Base(os.Args[0]) == "kubectl" {
		os.Args = append([]string{"cloudtaser-controlplane", "kubectl"}, os.Args[1:]...)
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "etcd":
		// etcdmain parses args[1:], so args[0] stands in for the program name.
		etcdmain.Main(os.Args[1:])
	case "kube-apiserver":
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(os.Args[2:])
		os.Exit(cli.Run(cmd))
	case "kube-controller-manager":
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(os.Args[2:])
		os.Exit(cli.Run(cmd))
	case "kube-scheduler":
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(os.Args[2:])
		os.Exit(cli.Run(cmd))
	case "kubelet":
		cmd := kubelet.NewKubeletCommand(context.Background())
		cmd.SetArgs(os.Args[2:])
		os.Exit(cli.Run(cmd))
	case "kube-proxy":
		cmd := proxy.NewProxyCommand()
		cmd.SetArgs(os.Args[2:])
		os.Exit(cli.Run(cmd))
	case "coredns":
		runCoreDNS(os.Args[2:])
	case "kubectl":
		// kubectl reads os.Args itself (plugin lookup): drop our program name.
		os.Args = os.Args[1:]
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
	case "cri-down":
		os.Exit(runCRIDown(os.Args[2:]))
	case "pki":
		os.Exit(runPKI(os.Args[2:]))
	case "version":
		fmt.Println(versionString())
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}
