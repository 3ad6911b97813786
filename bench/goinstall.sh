#!/usr/bin/env bash
# bench/goinstall.sh: checks README's install line (`make goinstall`),
#
#   go install github.com/perfgo/perfgo/cmd/perfgo@latest
#
# exactly as written, from a clean GOPATH and module cache. The module is not
# published, so the current commit (HEAD: commit first) is served as its
# latest version from a file:// module proxy made here, in the module proxy
# layout: @v/list, @latest, and for the version a .info, a .mod and a .zip
# (`git archive` with the prefix github.com/perfgo/perfgo@VERSION/). Every
# dependency comes from the real module proxy behind it
# (GOPROXY=file://...,https://proxy.golang.org) and is checked against the
# checksum database as usual; only perfgo itself, which the database cannot
# know, is exempt (GONOSUMDB). Then it runs the installed `perfgo --version`
# and a short sweep against the installed `perfgo serve`, started here and
# stopped by its PID. Not part of `make test`: it downloads every dependency.
#
# Settings (environment variables):
#   GOINSTALL_KEEP=1   keep the temporary GOPATH, proxy and logs (printed)
set -euo pipefail

module=github.com/perfgo/perfgo
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
bench_init goinstall
bench_keep=${GOINSTALL_KEEP:-0}

if ! git -C "$repo" diff --quiet HEAD; then
	echo "note: uncommitted changes are not installed: the proxy serves HEAD"
fi

# A pseudo-version of HEAD, as the go command would name the commit.
commit=$(git -C "$repo" rev-parse HEAD)
stamp=$(TZ=UTC git -C "$repo" log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S HEAD)
version=v0.0.0-$stamp-${commit:0:12}
iso=$(TZ=UTC git -C "$repo" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ HEAD)

proxy=$tmp/proxy
dir=$proxy/$module/@v
mkdir -p "$dir"
info="{\"Version\":\"$version\",\"Time\":\"$iso\"}"
echo "$info" >"$dir/$version.info"
echo "$info" >"$proxy/$module/@latest"
: >"$dir/list" # no release: @latest is the @latest file
git -C "$repo" show HEAD:go.mod >"$dir/$version.mod"
git -C "$repo" archive --format=zip --prefix="$module@$version/" -o "$dir/$version.zip" HEAD

export GOPATH=$tmp/gopath GOMODCACHE=$tmp/gopath/pkg/mod GOBIN=$tmp/bin
export GOPROXY=file://$proxy,https://proxy.golang.org
export GONOSUMDB=$module GOFLAGS=-modcacherw GOTOOLCHAIN=local
cd "$tmp" # outside any module: go install pkg@version ignores the current one anyway

echo "+ go install $module/cmd/perfgo@latest   (serving $version)"
start=$SECONDS
go install "$module/cmd/perfgo@latest"
echo "  installed in $((SECONDS - start)) s: $(du -sh "$GOMODCACHE" | cut -f1) of modules downloaded"

perfgo=$GOBIN/perfgo
echo "+ perfgo --version"
"$perfgo" --version

bench_serve "$perfgo" "$tmp/serve.log"
addr=$serve_grpc
echo "+ perfgo -m simple -i grpc -u $addr --concurrency-range 1:2 -p 500 -s 50"
CI=true "$perfgo" -m simple -i grpc -u "$addr" --concurrency-range 1:2 -p 500 -s 50 | tail -n 4
echo "go install $module/cmd/perfgo@latest: ok"
