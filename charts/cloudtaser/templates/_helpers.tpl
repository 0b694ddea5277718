{{/*
Names are fixed, not derived from the release name: the webhook configuration name
(cloudtaser-inject) is the operator's constant, and one cloudtaser runs per cluster.
*/}}
{{- define "cloudtaser.operatorName" -}}cloudtaser-operator{{- end -}}
{{- define "cloudtaser.agentName" -}}cloudtaser-ebpf-agent{{- end -}}
{{- define "cloudtaser.webhookConfigName" -}}cloudtaser-inject{{- end -}}
{{- define "cloudtaser.pkiSecretName" -}}cloudtaser-operator-pki{{- end -}}
{{- define "cloudtaser.brokerName" -}}cloudtaser-broker{{- end -}}
{{- define "cloudtaser.brokerCaConfigMap" -}}cloudtaser-broker-ca{{- end -}}
{{- /* Fixed: `target migrate --via-broker` asks for this name (lib/openbao/migrator-access.ts). */ -}}
{{- define "cloudtaser.migratorName" -}}cloudtaser-migrator{{- end -}}
{{/* What wrappers dial in beacon mode: the broker's Service, a name its certificate carries. */}}
{{- define "cloudtaser.brokerUrl" -}}https://{{ include "cloudtaser.brokerName" . }}.{{ .Release.Namespace }}.svc:{{ .Values.operator.broker.port }}{{- end -}}

{{- define "cloudtaser.brokerSelector" -}}
app.kubernetes.io/name: cloudtaser
app.kubernetes.io/component: broker
{{- end -}}

{{- define "cloudtaser.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: cloudtaser
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cloudtaser.operatorSelector" -}}
app.kubernetes.io/name: cloudtaser
app.kubernetes.io/component: operator
{{- end -}}

{{- define "cloudtaser.agentSelector" -}}
app.kubernetes.io/name: cloudtaser
app.kubernetes.io/component: ebpf-agent
{{- end -}}

{{/* registry/repository:tag; the tag defaults to the chart's appVersion. */}}
{{- define "cloudtaser.image" -}}
{{- $root := index . 0 -}}{{- $image := index . 1 -}}
{{- $registry := $root.Values.global.imageRegistry -}}
{{- $ref := printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) -}}
{{- if $registry }}{{ printf "%s/%s" $registry $ref }}{{ else }}{{ $ref }}{{ end -}}
{{- end -}}

{{- define "cloudtaser.operatorReplicas" -}}
{{- if .Values.operator.ha -}}
{{- if lt (int .Values.operator.replicas) 2 -}}
{{- fail "operator.ha=true needs operator.replicas >= 2 (set operator.ha=false for a single replica)" -}}
{{- end -}}
{{- .Values.operator.replicas -}}
{{- else -}}1{{- end -}}
{{- end -}}

{{/* Namespaces the webhook never sees: kube-system, the release namespace, then the extra ones (as the operator dedupes them). */}}
{{- define "cloudtaser.excludedNamespaces" -}}
{{- concat (list "kube-system" .Release.Namespace) .Values.operator.webhook.excludeNamespaces | uniq | toJson -}}
{{- end -}}

{{/* Refuse settings this version cannot serve, with the reason. */}}
{{- define "cloudtaser.validate" -}}
{{- $mode := .Values.operator.broker.mode -}}
{{- if has $mode (list "beacon" "reverse") -}}
{{- if and (eq $mode "beacon") (not .Values.operator.broker.beacon.address) -}}
{{- fail "operator.broker.mode=beacon needs operator.broker.beacon.address (the relay's host:port)" -}}
{{- end -}}
{{- if not (regexMatch "^[0-9a-fA-F]{64}$" (toString .Values.operator.broker.beacon.caSha256)) -}}
{{- fail (printf "operator.broker.mode=%s needs operator.broker.beacon.caSha256: the operationalInfoHash `cloudtaser source register` printed (64 hex digits). It pins the cluster CA, and a restarted broker renews its certificate only with it" $mode) -}}
{{- end -}}
{{- if and (eq .Values.operator.secretBackend "vault") (not .Values.operator.broker.beacon.authMount) -}}
{{- fail (printf "operator.broker.mode=%s with operator.secretBackend=vault: the operator logs in to OpenBao through the broker with a jwt auth method; set operator.broker.beacon.authMount (the mount `cloudtaser source configure --jwt-from-registration` made), or operator.secretBackend=kubernetes" $mode) -}}
{{- end -}}
{{- if and (eq $mode "reverse") (not (has .Values.operator.broker.reverse.service.type (list "LoadBalancer" "NodePort"))) -}}
{{- fail "operator.broker.reverse.service.type must be LoadBalancer or NodePort: the bridge dials the broker from outside the cluster" -}}
{{- end -}}
{{- else if ne $mode "direct" -}}
{{- fail (printf "operator.broker.mode=%s: use direct, beacon or reverse" $mode) -}}
{{- end -}}
{{- if and (eq .Values.operator.secretBackend "vault") (not .Values.operator.vaultAddress) (eq $mode "direct") -}}
{{- fail "operator.secretBackend=vault keeps the operator's webhook CA and certificate in OpenBao: set operator.vaultAddress (and run `cloudtaser source configure` for its policy and role), or choose operator.secretBackend=kubernetes (a Kubernetes Secret; fallback)" -}}
{{- end -}}
{{- end -}}
