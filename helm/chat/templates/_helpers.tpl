{{/* vim: set filetype=mustache: */}}

{{- define "chat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name: the prefix of every resource. Node pods are `<fullname>-node[-<colour>]-<ordinal>`
and their headless Service `<fullname>-node[-<colour>]-headless`; both must stay DNS labels
(63 characters), hence the 36-character limit checked in chat.validate.
*/}}
{{- define "chat.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "chat.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "chat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "chat.labels" -}}
helm.sh/chart: {{ include "chat.chart" . }}
{{ include "chat.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chat
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations block content for commonAnnotations merged with extra ones: (dict "ctx" $ "extra" $map) */}}
{{- define "chat.annotations" -}}
{{- $all := merge (dict) (default (dict) .extra) .ctx.Values.commonAnnotations -}}
{{- if $all }}
annotations:
  {{- toYaml $all | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "chat.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "chat.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* registry/repository:tag@digest for (dict "image" $imageValues "defaultTag" $tag) */}}
{{- define "chat.imageRef" -}}
{{- $repo := .image.repository -}}
{{- if .image.registry -}}{{- $repo = printf "%s/%s" .image.registry .image.repository -}}{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (toString (default .defaultTag .image.tag)) -}}
{{- end -}}
{{- end -}}

{{- define "chat.image" -}}
{{- include "chat.imageRef" (dict "image" .Values.image "defaultTag" .Chart.AppVersion) -}}
{{- end -}}

{{- define "chat.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Secret created by the chart for JWT / Cassandra credentials. */}}
{{- define "chat.secretName" -}}
{{- printf "%s-secrets" (include "chat.fullname" .) -}}
{{- end -}}

{{- define "chat.jwtEnvName" -}}
{{- if eq .Values.auth.jwtVerification "publicKey" -}}CHAT_JWT_PUBLIC_KEY{{- else -}}CHAT_JWT_SECRET{{- end -}}
{{- end -}}

{{- define "chat.jwtDefaultKey" -}}
{{- if eq .Values.auth.jwtVerification "publicKey" -}}jwt-public-key{{- else -}}jwt-secret{{- end -}}
{{- end -}}

{{- define "chat.jwtSecretName" -}}
{{- default (include "chat.secretName" .) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "chat.jwtSecretKey" -}}
{{- if .Values.auth.existingSecret -}}
{{- default (include "chat.jwtDefaultKey" .) .Values.auth.existingSecretKey -}}
{{- else -}}
{{- include "chat.jwtDefaultKey" . -}}
{{- end -}}
{{- end -}}

{{/*
HS256 secret when the chart owns it: the value, else the one already stored in the release's
Secret (so upgrades keep it), else 64 fresh random characters.
*/}}
{{- define "chat.jwtSecretValue" -}}
{{- if .Values.auth.jwtSecret -}}
{{- .Values.auth.jwtSecret -}}
{{- else -}}
{{- $value := "" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "chat.secretName" .) -}}
{{- if $existing -}}
{{- if $existing.data -}}
{{- if hasKey $existing.data "jwt-secret" -}}
{{- $value = index $existing.data "jwt-secret" | b64dec -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- default (randAlphaNum 64) $value -}}
{{- end -}}
{{- end -}}

{{- define "chat.cassandraSecretName" -}}
{{- default (include "chat.secretName" .) .Values.cassandra.auth.existingSecret -}}
{{- end -}}

{{/* Name of the Secret the migration hook reads Cassandra credentials from. */}}
{{- define "chat.migrationCassandraSecretName" -}}
{{- if .Values.cassandra.auth.existingSecret -}}
{{- .Values.cassandra.auth.existingSecret -}}
{{- else -}}
{{- printf "%s-migrate" (include "chat.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
Non-secret environment shared by every chat process, as a YAML map. It is the data of the
`<fullname>-config` ConfigMap (envFrom of nodes and flushers) and is inlined into the migration
hook, which runs before that ConfigMap exists on a first install.
*/}}
{{- define "chat.configEnv" -}}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
CHAT_DRAIN_DEADLINE_MS: {{ .Values.config.drainDeadlineMs | int64 | toString | quote }}
{{- with .Values.config.allowedOrigins }}
CHAT_ALLOWED_ORIGINS: {{ join "," . | quote }}
{{- end }}
{{- if .Values.redis.cluster.enabled }}
{{- if not .Values.redis.cluster.nodes }}{{ fail "redis.cluster.enabled needs redis.cluster.nodes: the cluster's seed nodes as host:port" }}{{ end }}
CHAT_REDIS_CLUSTER_NODES: {{ join "," .Values.redis.cluster.nodes | quote }}
{{- else if not .Values.redis.existingSecret }}
CHAT_REDIS_URL: {{ .Values.redis.url | quote }}
{{- end }}
CHAT_REDIS_PREFIX: {{ .Values.redis.prefix | quote }}
CHAT_ACK_REPLICAS: {{ .Values.redis.ackReplicas | int64 | toString | quote }}
{{- if .Values.redis.tls.enabled }}
CHAT_REDIS_TLS: "true"
{{- if .Values.redis.tls.existingSecret }}
CHAT_REDIS_TLS_CA_FILE: {{ printf "/etc/chat/redis-tls/%s" .Values.redis.tls.caKey | quote }}
{{- end }}
{{- end }}
CHAT_CASSANDRA_CONTACT_POINTS: {{ join "," .Values.cassandra.contactPoints | quote }}
CHAT_CASSANDRA_LOCAL_DC: {{ .Values.cassandra.localDc | quote }}
CHAT_CASSANDRA_KEYSPACE: {{ .Values.cassandra.keyspace | quote }}
CHAT_CASSANDRA_REPLICATION_FACTOR: {{ .Values.cassandra.replicationFactor | int64 | toString | quote }}
CHAT_CASSANDRA_CONSISTENCY: {{ .Values.cassandra.consistency | quote }}
{{- if not (kindIs "invalid" .Values.config.streamShards) }}
CHAT_STREAM_SHARDS: {{ .Values.config.streamShards | int64 | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.config.bufferMaxEntries) }}
CHAT_BUFFER_MAX_ENTRIES: {{ .Values.config.bufferMaxEntries | int64 | toString | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.config.presenceTtlMs) }}
CHAT_PRESENCE_TTL_MS: {{ .Values.config.presenceTtlMs | int64 | toString | quote }}
{{- end }}
{{- end -}}

{{/* Secret-backed environment (Redis URL or cluster password from a Secret, Cassandra credentials). (dict "ctx" $ "cassandraSecret" $name) */}}
{{- define "chat.secretEnv" -}}
{{- $ := .ctx -}}
{{- if and $.Values.redis.existingSecret (not $.Values.redis.cluster.enabled) }}
- name: CHAT_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.redis.existingSecret }}
      key: {{ $.Values.redis.existingSecretKey }}
{{- end }}
{{- if $.Values.redis.auth.existingSecret }}
- name: CHAT_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.redis.auth.existingSecret }}
      key: {{ $.Values.redis.auth.passwordKey }}
{{- end }}
{{- if $.Values.cassandra.auth.enabled }}
- name: CHAT_CASSANDRA_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .cassandraSecret }}
      key: {{ $.Values.cassandra.auth.usernameKey }}
- name: CHAT_CASSANDRA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .cassandraSecret }}
      key: {{ $.Values.cassandra.auth.passwordKey }}
{{- end }}
{{- end -}}

{{/* The pod's own name as CHAT_NODE_NAME: engine.io session ids start with `<CHAT_NODE_NAME>-`. */}}
{{- define "chat.nodeNameEnv" -}}
- name: CHAT_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end -}}

{{/* Checksums that roll the chat pods when their configuration or secrets change. */}}
{{- define "chat.configChecksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/*
Node tracks: one StatefulSet each. A single `<fullname>-node` normally; `-blue` and `-green`
with blueGreen.enabled. Rendered as YAML and read back with fromYaml by the templates.
  name      StatefulSet name (= prefix of its pod names, = node names, = sid prefixes)
  color     "" or blue/green
  active    receives new sessions
  hpa       has a HorizontalPodAutoscaler
  replicas  replica count to render
  slots     HAProxy server slots (pods that may exist)
  imageTag  image tag
*/}}
{{- define "chat.nodeTracks" -}}
{{- $fullname := include "chat.fullname" . -}}
{{- $as := .Values.nodes.autoscaling -}}
{{- $colors := list "" -}}
{{- if .Values.blueGreen.enabled -}}{{- $colors = list "blue" "green" -}}{{- end -}}
tracks:
{{- range $color := $colors }}
{{- $name := printf "%s-node" $fullname -}}
{{- $active := true -}}
{{- $replicas := int $.Values.nodes.replicaCount -}}
{{- $tag := "" -}}
{{- if $color -}}
{{- $name = printf "%s-node-%s" $fullname $color -}}
{{- $active = eq $.Values.blueGreen.activeColor $color -}}
{{- $c := index $.Values.blueGreen $color -}}
{{- $replicas = int $c.replicaCount -}}
{{- $tag = $c.imageTag -}}
{{- end -}}
{{- $hpa := and $as.enabled $active -}}
{{- if $hpa -}}
{{- /* Keep the count the HPA chose: omitting `replicas` would reset it to 1 on upgrades. */ -}}
{{- $replicas = int $as.minReplicas -}}
{{- $live := lookup "apps/v1" "StatefulSet" $.Release.Namespace $name -}}
{{- if $live -}}{{- if $live.spec -}}{{- if $live.spec.replicas -}}
{{- $replicas = min (max (int $live.spec.replicas) (int $as.minReplicas)) (int $as.maxReplicas) -}}
{{- end -}}{{- end -}}{{- end -}}
{{- end -}}
{{- $slots := $replicas -}}
{{- if $as.enabled -}}{{- $slots = max $replicas (int $as.maxReplicas) -}}{{- end -}}
{{- if not (kindIs "invalid" $.Values.haproxy.serverSlots) -}}{{- $slots = max $replicas (int $.Values.haproxy.serverSlots) -}}{{- end }}
  - name: {{ $name }}
    color: {{ $color | quote }}
    active: {{ $active }}
    hpa: {{ $hpa }}
    replicas: {{ $replicas }}
    slots: {{ $slots }}
    imageTag: {{ $tag | quote }}
{{- end }}
{{- end -}}

{{/* Selector labels of one track's pods: (dict "ctx" $ "track" $t) */}}
{{- define "chat.nodeSelectorLabels" -}}
{{ include "chat.selectorLabels" .ctx }}
app.kubernetes.io/component: node
{{- if .track.color }}
chat.track: {{ .track.color }}
{{- end }}
{{- end -}}

{{/* preStop sleep + drain deadline + 5 s of slack, unless set explicitly. */}}
{{- define "chat.nodeTerminationGracePeriod" -}}
{{- if not (kindIs "invalid" .Values.nodes.terminationGracePeriodSeconds) -}}
{{- .Values.nodes.terminationGracePeriodSeconds | int64 -}}
{{- else -}}
{{- $drain := div (add (int64 .Values.config.drainDeadlineMs) 999) 1000 -}}
{{- add (int64 .Values.nodes.preStopSleepSeconds) $drain 5 -}}
{{- end -}}
{{- end -}}

{{/* affinity block: (dict "affinity" $map "preset" "soft|hard|none" "labels" $selectorLabelsString) */}}
{{- define "chat.affinity" -}}
{{- if .affinity }}
affinity:
  {{- toYaml .affinity | nindent 2 }}
{{- else if eq .preset "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- .labels | nindent 14 }}
{{- else if eq .preset "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- .labels | nindent 12 }}
{{- end }}
{{- end -}}

{{/* topologySpreadConstraints with the pod's selector labels filled in: (dict "constraints" $list "labels" $selectorLabelsString) */}}
{{- define "chat.topologySpread" -}}
{{- if .constraints }}
topologySpreadConstraints:
{{- range .constraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (fromYaml $.labels)) }}
{{- end }}
  - {{- toYaml $c | nindent 4 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Common scheduling fields: (dict "v" $componentValues "labels" $selectorLabelsString) */}}
{{- define "chat.scheduling" -}}
{{- with .v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- include "chat.affinity" (dict "affinity" .v.affinity "preset" .v.podAntiAffinityPreset "labels" .labels) }}
{{- include "chat.topologySpread" (dict "constraints" .v.topologySpreadConstraints "labels" .labels) }}
{{- end -}}

{{/* PodDisruptionBudget spec fields: minAvailable wins when set. */}}
{{- define "chat.pdbSpec" -}}
{{- if not (eq (toString .minAvailable) "") }}
minAvailable: {{ if kindIs "string" .minAvailable }}{{ .minAvailable | quote }}{{ else }}{{ .minAvailable | int64 }}{{ end }}
{{- else }}
maxUnavailable: {{ if kindIs "string" .maxUnavailable }}{{ .maxUnavailable | quote }}{{ else }}{{ .maxUnavailable | int64 }}{{ end }}
{{- end }}
{{- end -}}

{{/* httpGet probe: (dict "probe" $values "path" "/healthz" "port" "http") */}}
{{- define "chat.probe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
{{- range $k := list "initialDelaySeconds" "periodSeconds" "timeoutSeconds" "failureThreshold" }}
{{- if hasKey $.probe $k }}
{{ $k }}: {{ index $.probe $k | int64 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Combinations the schema cannot express. */}}
{{- define "chat.validate" -}}
{{- $fullname := include "chat.fullname" . -}}
{{- if gt (len $fullname) 36 -}}
{{- fail (printf "the full name %q is longer than 36 characters: node pod names and their headless Service must stay DNS labels; set fullnameOverride" $fullname) -}}
{{- end -}}
{{- if and (eq .Values.routing.mode "ingress") (not .Values.ingress.enabled) -}}
{{- fail "routing.mode=ingress needs ingress.enabled=true" -}}
{{- end -}}
{{- if and (eq .Values.routing.mode "none") .Values.ingress.enabled -}}
{{- fail "routing.mode=none (a canary release) creates no entry point: set ingress.enabled=false" -}}
{{- end -}}
{{- if and (eq .Values.auth.jwtVerification "publicKey") (not .Values.auth.existingSecret) (not .Values.auth.jwtPublicKey) -}}
{{- fail "auth.jwtVerification=publicKey needs auth.jwtPublicKey or auth.existingSecret" -}}
{{- end -}}
{{- if and .Values.cassandra.auth.enabled (not .Values.cassandra.auth.existingSecret) (not .Values.cassandra.auth.username) -}}
{{- fail "cassandra.auth.enabled needs cassandra.auth.username/password or cassandra.auth.existingSecret" -}}
{{- end -}}
{{- if .Values.nodes.autoscaling.enabled -}}
{{- if gt (int .Values.nodes.autoscaling.minReplicas) (int .Values.nodes.autoscaling.maxReplicas) -}}
{{- fail "nodes.autoscaling.minReplicas must not exceed maxReplicas" -}}
{{- end -}}
{{- if and (kindIs "invalid" .Values.nodes.autoscaling.targetCPUUtilizationPercentage) (not .Values.nodes.autoscaling.connections.enabled) -}}
{{- fail "nodes.autoscaling needs a CPU target or the connections metric" -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.routing.mode "haproxy") .Values.haproxy.canary.enabled -}}
{{- $own := printf "%s-node-" $fullname -}}
{{- $canary := printf "%s-node-" .Values.haproxy.canary.fullname -}}
{{- if or (hasPrefix $own $canary) (hasPrefix $canary $own) -}}
{{- fail (printf "haproxy.canary.fullname %q would share the session-id prefix of this release's nodes" .Values.haproxy.canary.fullname) -}}
{{- end -}}
{{- if eq .Values.haproxy.canary.fullname $fullname -}}
{{- fail "haproxy.canary.fullname must name another release" -}}
{{- end -}}
{{- end -}}
{{- end -}}
