{{/*
haproxy.cfg. Everything from `defaults` on (routing, health checks, persistence, the gateway's own
/healthz and /readyz, no node /metrics from outside) is files/haproxy-routing.cfg, generated from
gateway/routing.ts, the source the local gateway (`npm start`, the tests) renders too; a unit test
fails when the committed file differs from it. This file only feeds it the chart's values:

  * engine.io session ids are `<nodeName>-<random>` and a node's name is its pod name, so each
    node StatefulSet is a group with the sid prefix `<statefulset>-`, one server per pod slot;
  * new sessions go to the active colour's group, or to the canary release for
    haproxy.canary.weight percent of them.

Servers are explicit per-pod lines (`server <pod> <pod>.<headless svc>...`), one per slot, not
`server-template`: server-template names its servers `<prefix>1..N` in DNS answer order, which
says nothing about which pod is behind which name, so a sid could not be mapped to a server.
Pods that do not exist yet (slots above the current replica count) sit in MAINT until the
`kubedns` resolver (the pod's resolv.conf, i.e. kube-dns) finds them, so the HPA can scale without
a config change or reload.

Admission (gateway/admission.ts):
  * the waiting room: haproxy.waitingRoom.maxConnectionsPerNode is what a node takes from all
    HAProxy pods together; each pod has no view of the others, so each gets an equal share as its
    per-server maxconn (at least 1; 0 stays "no limit");
  * per client address limits (haproxy.clientLimits): keyed on the connection's source address,
    which is the client's only when nothing in between rewrites it. A LoadBalancer or NodePort
    Service with externalTrafficPolicy=Cluster hides it behind a node's address (SNAT), so every
    client would share a few limits: the chart refuses that unless the proxies in front are
    listed in haproxy.clientLimits.trustedProxies.
*/}}
{{- define "chat.haproxy.groups" -}}
{{- $ns := .Release.Namespace -}}
{{- $domain := .Values.clusterDomain -}}
{{- $groups := list -}}
{{- range $track := (fromYaml (include "chat.nodeTracks" .)).tracks }}
{{- $groups = append $groups (dict "name" $track.name "slots" $track.slots "port" $.Values.nodes.port "active" $track.active "canary" false) -}}
{{- end }}
{{- if .Values.haproxy.canary.enabled }}
{{- $c := .Values.haproxy.canary -}}
{{- $groups = append $groups (dict "name" (printf "%s-node" $c.fullname) "slots" $c.serverSlots "port" $c.port "active" false "canary" true) -}}
{{- end -}}
groups:
{{- range $g := $groups }}
  - backend: {{ $g.name | quote }}
    sidPrefixes: [{{ printf "%s-" $g.name | quote }}]
    active: {{ $g.active }}
    canary: {{ $g.canary }}
    servers:
{{- range $i := until (int $g.slots) }}
      - name: {{ printf "%s-%d" $g.name $i | quote }}
        address: {{ printf "%s-%d.%s-headless.%s.svc.%s:%d" $g.name $i $g.name $ns $domain (int $g.port) | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "chat.haproxy.config" -}}
{{- $h := .Values.haproxy -}}
{{- $limits := $h.clientLimits -}}
{{- if and $limits.enabled (not $limits.trustedProxies) (has $h.service.type (list "LoadBalancer" "NodePort")) (ne $h.service.externalTrafficPolicy "Local") -}}
{{- fail (printf "haproxy.clientLimits with haproxy.service.type=%s needs haproxy.service.externalTrafficPolicy=Local (else every client shares a node's address), or haproxy.clientLimits.trustedProxies, or haproxy.clientLimits.enabled=false" $h.service.type) -}}
{{- end -}}
{{- $perNode := int $h.waitingRoom.maxConnectionsPerNode -}}
{{- $serverMaxconn := 0 -}}
{{- if gt $perNode 0 }}{{ $serverMaxconn = max 1 (div $perNode (int $h.replicaCount)) }}{{ end -}}
{{- $settings := dict
  "bind" (printf ":%v" $h.containerPort)
  "statsBind" (printf ":%v" $h.statsPort)
  "maxconn" (toString (int $h.maxconn))
  "balance" $h.balance
  "timeoutConnect" $h.timeouts.connect
  "timeoutClient" $h.timeouts.client
  "timeoutServer" $h.timeouts.server
  "timeoutTunnel" $h.timeouts.tunnel
  "timeoutHttpRequest" $h.timeouts.httpRequest
  "timeoutQueue" $h.timeouts.queue
  "serverMaxconn" (toString $serverMaxconn)
  "queueRetryAfter" (toString (int $h.waitingRoom.retryAfterSeconds))
  "clientLimits" (ternary "on" "" $limits.enabled)
  "clientMaxConnections" (toString (int $limits.maxConnections))
  "clientConnectRate" (toString (int $limits.newConnectionsPer10s))
  "clientDropConnections" (toString (mul 2 (int $limits.maxConnections)))
  "clientDropConnectRate" (toString (mul 2 (int $limits.newConnectionsPer10s)))
  "clientRequestRate" (toString (int $limits.requestsPer10s))
  "clientRetryAfter" (toString (int $limits.retryAfterSeconds))
  "trustedProxies" (join " " $limits.trustedProxies)
  "clientAddressHeader" $limits.clientAddressHeader
  "checkInterval" $h.healthCheck.interval
  "checkFall" (toString (int $h.healthCheck.fall))
  "checkRise" (toString (int $h.healthCheck.rise))
  "serverOptions" "init-addr last,libc,none resolvers kubedns resolve-prefer ipv4"
  "canaryWeight" (toString (int $h.canary.weight))
-}}
{{- $groups := (fromYaml (include "chat.haproxy.groups" .)).groups -}}
# Generated by the chat Helm chart ({{ include "chat.fullname" . }}). Do not edit in the cluster.
global
    log stdout format raw local0 info
    maxconn {{ $h.maxconn }}
    hard-stop-after {{ $h.hardStopAfter }}
    # No stats socket, pid file or chroot: the root filesystem is read-only.

resolvers kubedns
    parse-resolv-conf
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold valid 5s
    hold nx 5s
    hold obsolete 10s
    accepted_payload_size 8192

{{ tpl (.Files.Get "files/haproxy-routing.cfg") (dict "settings" $settings "groups" $groups) }}
{{- end -}}
