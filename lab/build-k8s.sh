#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager at a pinned version from the Go
# module proxy into a cache outside the repository, once. Later calls return at once.
#
#   lab/build-k8s.sh            # builds into $KPLAY_CACHE/k8s-$K8S_VERSION/
#
# Kubernetes' own go.mod points its staging modules (k8s.io/api, client-go, ...) at
# ./staging/..., which does not exist in the module zip; a throwaway module requires
# k8s.io/kubernetes and replaces each of them with the published v0.x module of the
# same release.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
KPLAY_CACHE=${KPLAY_CACHE:-/var/cache/kplay}
out="$KPLAY_CACHE/k8s-$K8S_VERSION"
bins=(kube-apiserver kube-controller-manager)

# gitMinor is the minor number alone ("37"), as in Kubernetes' own release builds.
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"

# The stamp records the flags the binaries were linked with: binaries from an older
# version of this script are rebuilt (only the link step, with a warm Go build cache).
have_all() {
  for b in "${bins[@]}"; do [ -x "$out/$b" ] || return 1; done
  [ "$(cat "$out/build.stamp" 2>/dev/null)" = "$ldflags" ]
}
if have_all; then
  echo "k8s $K8S_VERSION: cached in $out"
  exit 0
fi
command -v go >/dev/null || { echo "build-k8s: go is not on PATH" >&2; exit 1; }

mkdir -p "$out"
# One build at a time: a second caller waits for the first and then finds the cache.
exec 9>"$out/build.lock"
if ! flock -n 9; then
  echo "k8s $K8S_VERSION: another build is running (log: $out/build.log); waiting for it"
  flock 9
fi
if have_all; then
  echo "k8s $K8S_VERSION: cached in $out"
  exit 0
fi
work=$(mktemp -d "$KPLAY_CACHE/k8s-build.XXXXXX")
log="$out/build.log"
trap 'rm -rf "$work"' EXIT

staging_version="v0.${K8S_VERSION#v1.}"
cd "$work"
# A subshell outside any `||` or `if`, so that set -e holds inside it: a failing step
# stops the build instead of being reported as built.
set +e
(
  set -euo pipefail
  echo "# $(date -u +%FT%TZ) building $K8S_VERSION in $work"
  go mod init kplay-k8s-build
  go mod edit -go=1.26
  go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
  dl=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" 2>&1) || {
    echo "cannot download k8s.io/kubernetes@$K8S_VERSION from the Go module proxy:"
    printf '%s\n' "$dl"
    exit 1
  }
  modfile=$(printf '%s\n' "$dl" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -n "$modfile" ] || { echo "cannot download k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
  for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => \./staging/.*#\1#p' "$modfile"); do
    go mod edit -replace="$m=$m@$staging_version"
  done
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
  go mod tidy
  for b in "${bins[@]}"; do
    echo "# building $b"
    go build -trimpath -ldflags "$ldflags" -o "$work/$b" "k8s.io/kubernetes/cmd/$b"
    mv "$work/$b" "$out/$b.tmp" && mv "$out/$b.tmp" "$out/$b"
  done
  printf '%s\n' "$ldflags" >"$out/build.stamp"
  echo "# done"
) >"$log" 2>&1
rc=$?
set -e
if [ "$rc" != 0 ]; then
  echo "build-k8s: the build of $K8S_VERSION failed; log: $log" >&2
  tail -20 "$log" >&2
  exit 1
fi
echo "k8s $K8S_VERSION: built into $out (log: $log)"
