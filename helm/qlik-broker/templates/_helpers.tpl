{{/*
Copyright qlik-broker authors. SPDX-License-Identifier: Apache-2.0
*/}}

{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "qlik-broker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated to 63 characters. The release name is
used alone when it already contains the chart name.
*/}}
{{- define "qlik-broker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "qlik-broker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "qlik-broker.labels" -}}
helm.sh/chart: {{ include "qlik-broker.chart" . }}
{{ include "qlik-broker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: name and instance only, selectors are immutable. */}}
{{- define "qlik-broker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qlik-broker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the ServiceAccount (the identity Vault's Kubernetes role is bound to). */}}
{{- define "qlik-broker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "qlik-broker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: the digest wins over the tag; the tag defaults to appVersion. */}}
{{- define "qlik-broker.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Label that lets a pod of the release namespace call the broker through the NetworkPolicy. */}}
{{- define "qlik-broker.clientLabel" -}}
{{ include "qlik-broker.fullname" . }}-client
{{- end }}

{{/* Secrets the operator provides (never rendered unless devSecret.create). */}}
{{- define "qlik-broker.redisSecretName" -}}
{{- default (include "qlik-broker.fullname" .) .Values.redis.existingSecret }}
{{- end }}

{{- define "qlik-broker.cacheKeysSecretName" -}}
{{- default (include "qlik-broker.fullname" .) .Values.cacheEncryption.existingSecret }}
{{- end }}

{{/* Mount points. */}}
{{- define "qlik-broker.configDir" -}}/etc/qlik-broker/config{{- end }}
{{- define "qlik-broker.cacheKeysDir" -}}/etc/qlik-broker/cache-keys{{- end }}
{{- define "qlik-broker.redisCaDir" -}}/etc/qlik-broker/redis-ca{{- end }}
{{- define "qlik-broker.vaultCaDir" -}}/etc/qlik-broker/vault-ca{{- end }}
{{- define "qlik-broker.vaultTokenDir" -}}/var/run/secrets/vault{{- end }}
{{- define "qlik-broker.agentSecretsDir" -}}/vault/secrets{{- end }}
{{- /* Where automount would put them: the paths the broker's docs give for jwksTokenFile and jwksCaFile. */}}
{{- define "qlik-broker.kubernetesApiTokenDir" -}}/var/run/secrets/kubernetes.io/serviceaccount{{- end }}

{{/*
Names of the issuers whose keys come from the in-cluster Kubernetes API
server (jwksUrl, or the issuer URL with discovery, on kubernetes.default.svc
and its short forms), comma-separated; empty when none.
*/}}
{{- define "qlik-broker.kubernetesApiIssuers" -}}
{{- $names := list }}
{{- range .Values.issuers }}
{{- $url := .jwksUrl | default (ternary .issuer "" (eq (toString .discovery) "true")) | default "" }}
{{- if and $url (regexMatch "^kubernetes(\\.default(\\.svc(\\..+)?)?)?$" (urlParse $url).hostname) }}
{{- $names = append $names .name }}
{{- end }}
{{- end }}
{{- join "," $names }}
{{- end }}

{{/*
KV v2 API path (mount/data/path) of a region's secret, for the Vault Agent
template. Takes (dict "root" $ "region" $region).
*/}}
{{- define "qlik-broker.regionSecretApiPath" -}}
{{- $vault := .root.Values.vault }}
{{- $path := default (replace "{region}" .region.code $vault.secretPathTemplate) .region.secretPath }}
{{- printf "%s/data/%s" (trimSuffix "/" $vault.kvMount) (trimPrefix "/" $path) }}
{{- end }}

{{/*
Contents of BROKER_CONFIG_FILE: callers, issuers, regions. With the agent
the broker reads files named <region>.json, so `secretPath` (a Vault path)
is left out of the file: it only feeds the agent template.
*/}}
{{- define "qlik-broker.configFile" -}}
{{- $config := dict "callers" .Values.callers }}
{{- with .Values.issuers }}
{{- $_ := set $config "issuers" . }}
{{- end }}
{{- if .Values.regions }}
{{- $regions := list }}
{{- range .Values.regions }}
{{- if eq $.Values.vault.mode "agent" }}
{{- $regions = append $regions (omit . "secretPath") }}
{{- else }}
{{- $regions = append $regions . }}
{{- end }}
{{- end }}
{{- $_ := set $config "regions" $regions }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
Value combinations the schema cannot express. Fails the render with a
message naming the values key.
*/}}
{{- define "qlik-broker.validate" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if and (not .Values.image.digest) (eq $tag "latest") }}
{{- fail "image.tag: use a fixed version or image.digest, never \"latest\"" }}
{{- end }}
{{- if and (not .Values.redis.enabled) (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- fail "redis.enabled=false keeps tokens, idempotency records and the tenant registry in one process: set replicaCount to 1 and autoscaling.enabled to false, or enable Redis" }}
{{- end }}
{{- $drainSeconds := add (int .Values.preStopSleepSeconds) (div (add (int .Values.shutdownGraceMs) 999) 1000) }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $drainSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + shutdownGraceMs/1000 (%d): the kubelet would kill the broker mid-drain" (int .Values.terminationGracePeriodSeconds) (int $drainSeconds)) }}
{{- end }}
{{- if and (eq .Values.vault.mode "agent") (not .Values.regions) }}
{{- fail "vault.mode=agent renders one file per region: list them in regions (e.g. regions: [{code: eu}, {code: us}])" }}
{{- end }}
{{- if and (eq .Values.vault.mode "kubernetes") (not .Values.vault.address) }}
{{- fail "vault.address is required with vault.mode=kubernetes" }}
{{- end }}
{{- if and .Values.devSecret.create (or (and (eq .Values.redis.mode "standalone") (not .Values.devSecret.redisUrl)) (not .Values.devSecret.cacheEncryptionKeys)) }}
{{- fail "devSecret.create=true needs devSecret.cacheEncryptionKeys, and devSecret.redisUrl with redis.mode=standalone" }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- if and (eq .Values.redis.mode "sentinel") (or (not .Values.redis.sentinel.nodes) (not .Values.redis.sentinel.masterName)) }}
{{- fail "redis.mode=sentinel needs redis.sentinel.nodes (host:port of each sentinel) and redis.sentinel.masterName" }}
{{- end }}
{{- if and (eq .Values.redis.mode "cluster") (not .Values.redis.cluster.nodes) }}
{{- fail "redis.mode=cluster needs redis.cluster.nodes (host:port of some nodes of the cluster)" }}
{{- end }}
{{- if and .Values.redis.tls.caSecret (not .Values.redis.tls.enabled) }}
{{- fail "redis.tls.caSecret is set but redis.tls.enabled is false" }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.tracing.enabled (not (or .Values.tracing.endpoint .Values.tracing.tracesEndpoint)) }}
{{- fail "tracing.enabled=true needs tracing.endpoint (the collector's base URL) or tracing.tracesEndpoint" }}
{{- end }}
{{- $window := splitList "-" (toString .Values.tokens.refreshWindow) }}
{{- $from := float64 (first $window) }}
{{- $to := float64 (last $window) }}
{{- if not (and (gt $from 0.0) (le $from $to) (lt $to 1.0)) }}
{{- fail (printf "tokens.refreshWindow (%s): two fractions of a token's lifetime, from above 0, at most to, and to below 1 (e.g. 0.6-0.8)" .Values.tokens.refreshWindow) }}
{{- end }}
{{- include "qlik-broker.validateIssuers" . }}
{{- end }}

{{/*
JWT issuers and the callers that name them: what the broker would only
refuse at start-up, refused at render time instead.
*/}}
{{- define "qlik-broker.validateIssuers" -}}
{{- $tokenDir := include "qlik-broker.kubernetesApiTokenDir" . }}
{{- if and .Values.kubernetesApiToken.enabled .Values.automountServiceAccountToken }}
{{- fail (printf "kubernetesApiToken.enabled and automountServiceAccountToken both mount %s: keep automountServiceAccountToken=false" $tokenDir) }}
{{- end }}
{{- $issuerNames := list }}
{{- range .Values.issuers }}
{{- $issuerNames = append $issuerNames .name }}
{{- $issuer := . }}
{{- range $field := list "jwksTokenFile" "jwksCaFile" }}
{{- $file := get $issuer $field | default "" }}
{{- if and (hasPrefix (printf "%s/" $tokenDir) $file) (not $.Values.kubernetesApiToken.enabled) (not $.Values.automountServiceAccountToken) }}
{{- fail (printf "issuers: %q reads %s %s, which only exists with kubernetesApiToken.enabled=true (the ServiceAccount token is not automounted)" $issuer.name $field $file) }}
{{- end }}
{{- end }}
{{- end }}
{{- $onApiServer := include "qlik-broker.kubernetesApiIssuers" . }}
{{- if and $onApiServer .Values.networkPolicy.enabled (not .Values.networkPolicy.egress.kubernetesApi.cidrs) }}
{{- fail (printf "networkPolicy.egress.kubernetesApi.cidrs: issuer(s) %s read their keys from the Kubernetes API server; list its addresses (the kubernetes Service's ClusterIP and its endpoints: kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes) so the NetworkPolicy lets the broker reach it" $onApiServer) }}
{{- end }}
{{- range $caller := .Values.callers }}
{{- range $subject := $caller.subjects | default list }}
{{- $issuerName := regexReplaceAll ":.*$" $subject "" }}
{{- if not (has $issuerName $issuerNames) }}
{{- fail (printf "callers: %q has subject %q, but no entry of issuers is named %q" $caller.name $subject $issuerName) }}
{{- end }}
{{- end }}
{{- $rules := $caller.claims | default list }}
{{- if kindIs "map" $rules }}{{- $rules = list $rules }}{{- end }}
{{- range $rules }}
{{- if not (has .issuer $issuerNames) }}
{{- fail (printf "callers: %q has a claims rule for issuer %q, but no entry of issuers is named so" $caller.name .issuer) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
NODE_OPTIONS of the broker: V8's old space as a share of the container's
memory limit (Node reads the limit from the cgroup), its young generation, and
whatever memory.extraNodeOptions adds.
*/}}
{{- define "qlik-broker.nodeOptions" -}}
{{- $options := list (printf "--max-old-space-size-percentage=%v" .Values.memory.maxOldSpacePercentage) (printf "--max-semi-space-size=%d" (int .Values.memory.maxSemiSpaceMiB)) -}}
{{- with .Values.memory.extraNodeOptions }}{{ $options = append $options . }}{{- end -}}
{{- join " " $options -}}
{{- end }}
