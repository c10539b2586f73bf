#!/usr/bin/env bash
# Writes prometheusrule.yaml, the Prometheus Operator's PrometheusRule object,
# from alerts.yaml, the plain Prometheus rule file: the same groups, indented
# under `spec:`. alerts.yaml is the one source; edit it, then run
#
#   bash deploy/monitoring/generate.sh          # rewrite prometheusrule.yaml
#   bash deploy/monitoring/generate.sh --check  # exit 1 if it is out of date
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

render() {
    cat <<'HEADER'
# Generated from alerts.yaml by generate.sh: edit alerts.yaml, then run
# `bash deploy/monitoring/generate.sh`. Prometheus Operator set-ups select
# rule objects by label (ruleSelector): add the label yours expects in an
# overlay.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: simple-ntpd
  labels:
    app.kubernetes.io/name: simple-ntpd
spec:
HEADER
    # Everything from `groups:` on (the file's leading comment stays there),
    # indented by two spaces; empty lines stay empty.
    sed -n '/^groups:/,$p' "$here/alerts.yaml" | sed -e 's/^\(.\)/  \1/'
}

case "${1:-}" in
    --check)
        if ! diff -u "$here/prometheusrule.yaml" <(render); then
            echo "generate.sh: prometheusrule.yaml differs from alerts.yaml; run bash deploy/monitoring/generate.sh" >&2
            exit 1
        fi
        ;;
    "")
        render >"$here/prometheusrule.yaml.tmp"
        mv "$here/prometheusrule.yaml.tmp" "$here/prometheusrule.yaml"
        ;;
    *)
        echo "usage: generate.sh [--check]" >&2
        exit 2
        ;;
esac
