#!/bin/sh
# Refresh the browser libraries vendored under static/vendor/ from the npm registry.
#
# The demo page and static/nexus-client.js load these UMD builds with plain <script>
# tags, so the page needs no build step. Run this script after changing a version
# range below, review the diff, and commit static/vendor/ (the files are committed so
# that neither installing nor testing the package needs npm).
#
# Usage: scripts/refresh-vendor.sh        (needs node's npm and network access)
set -eu

# Version ranges we accept (npm semver syntax).
SOCKJS_RANGE="~1.6.0"       # sockjs-client 1.6.x
STOMPJS_RANGE="^7.0.0"      # @stomp/stompjs 7.x

here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

cd "$work"
# `npm pack` fetches the published tarball (exactly what `npm install` would unpack)
# without creating node_modules or a package.json here.
npm pack --silent "sockjs-client@$SOCKJS_RANGE" "@stomp/stompjs@$STOMPJS_RANGE" >/dev/null
mkdir sockjs stompjs
tar -xzf sockjs-client-*.tgz -C sockjs --strip-components=1
tar -xzf stomp-stompjs-*.tgz -C stompjs --strip-components=1

version() { node -p "require('./$1/package.json').version"; }
license() { node -p "require('./$1/package.json').license"; }
integrity() { npm view "$1@$2" dist.integrity; }

sockjs_version=$(version sockjs)
stompjs_version=$(version stompjs)

rm -rf "$dest"
mkdir -p "$dest"
# The page loads the minified UMD builds; the readable ones are kept for review, and
# the source map that sockjs.min.js names so that browser tools find it.
cp sockjs/dist/sockjs.min.js sockjs/dist/sockjs.min.js.map sockjs/dist/sockjs.js "$dest/"
cp stompjs/bundles/stomp.umd.min.js stompjs/bundles/stomp.umd.js "$dest/"
cp sockjs/LICENSE "$dest/LICENSE.sockjs-client"
cp stompjs/LICENSE "$dest/LICENSE.stompjs"

{
  echo "# Browser libraries vendored from the npm registry by scripts/refresh-vendor.sh."
  echo "# package, version, license, npm integrity of the published tarball"
  printf '%-16s %-8s %-11s %s\n' sockjs-client "$sockjs_version" "$(license sockjs)" \
    "$(integrity sockjs-client "$sockjs_version")"
  printf '%-16s %-8s %-11s %s\n' @stomp/stompjs "$stompjs_version" "$(license stompjs)" \
    "$(integrity @stomp/stompjs "$stompjs_version")"
  echo "#"
  echo "# sockjs.js, sockjs.min.js(.map)    <- sockjs-client/dist/"
  echo "# stomp.umd.js, stomp.umd.min.js    <- @stomp/stompjs/bundles/"
  echo "# LICENSE.sockjs-client, LICENSE.stompjs <- each package's LICENSE"
} > "$dest/VERSIONS"

echo "vendored sockjs-client $sockjs_version and @stomp/stompjs $stompjs_version into $dest"
