#!/bin/sh
# Refresh the browser libraries vendored under static/vendor/ from the npm registry.
#
# The demo page and static/nexus-client.js load these builds with plain <script> tags,
# so the page needs no build step. Every script the page loads must parse as ES5 and
# run in a browser without WebSocket, EventSource, fetch, Promise, TextEncoder and
# TextDecoder (tests/e2e/test_old_browsers.py checks both), so:
#
#  - sockjs-client's dist build is ES5 already: copied as published;
#  - @stomp/stompjs 7 is published as ES2017 (classes, async functions, for...of):
#    its UMD bundle is transpiled here to ES5 with Babel (preset-env for IE 9, and
#    Object.assign replaced by an inline helper), then minified with terser;
#  - the two APIs that build still needs at run time come from two small polyfills
#    that install themselves only where the browser lacks them: promise-polyfill
#    (Promise) and fast-text-encoding (TextEncoder/TextDecoder, UTF-8).
#
# Run this script after changing a version range below, review the diff, and commit
# static/vendor/ (the files are committed so that neither installing nor testing the
# package needs npm). VERSIONS records what was fetched and which tools produced it.
#
# Usage: scripts/refresh-vendor.sh        (needs node 18+, npm and the npm registry)
set -eu

# Version ranges we accept (npm semver syntax).
SOCKJS_RANGE="~1.6.0"              # sockjs-client 1.6.x
STOMPJS_RANGE="^7.0.0"             # @stomp/stompjs 7.x
PROMISE_RANGE="^8.3.0"             # promise-polyfill 8.x
TEXT_ENCODING_RANGE="^1.0.6"       # fast-text-encoding 1.x
# The tools that make the ES5 build (installed into a temporary directory, not here).
BABEL_CORE_RANGE="^7.24.0"
BABEL_PRESET_ENV_RANGE="^7.24.0"
BABEL_OBJECT_ASSIGN_RANGE="^7.24.0"
TERSER_RANGE="^5.30.0"

here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

cd "$work"
# `npm pack` fetches the published tarball (exactly what `npm install` would unpack)
# without creating node_modules or a package.json here.
npm pack --silent "sockjs-client@$SOCKJS_RANGE" "@stomp/stompjs@$STOMPJS_RANGE" \
  "promise-polyfill@$PROMISE_RANGE" "fast-text-encoding@$TEXT_ENCODING_RANGE" >/dev/null
mkdir sockjs stompjs promise textenc
tar -xzf sockjs-client-*.tgz -C sockjs --strip-components=1
tar -xzf stomp-stompjs-*.tgz -C stompjs --strip-components=1
tar -xzf promise-polyfill-*.tgz -C promise --strip-components=1
tar -xzf fast-text-encoding-*.tgz -C textenc --strip-components=1

npm install --silent --no-save --no-audit --no-fund --prefix "$work/tools" \
  "@babel/core@$BABEL_CORE_RANGE" "@babel/preset-env@$BABEL_PRESET_ENV_RANGE" \
  "@babel/plugin-transform-object-assign@$BABEL_OBJECT_ASSIGN_RANGE" "terser@$TERSER_RANGE" >/dev/null

version() { node -p "require('./$1/package.json').version"; }
license() { node -p "require('./$1/package.json').license"; }
integrity() { npm view "$1@$2" dist.integrity; }
tool_version() { node -p "require('$work/tools/node_modules/$1/package.json').version"; }

sockjs_version=$(version sockjs)
stompjs_version=$(version stompjs)
promise_version=$(version promise)
textenc_version=$(version textenc)

# @stomp/stompjs -> ES5: Babel, then terser (both told to emit ES5 only).
cat > "$work/es5.js" <<'EOF'
const fs = require('fs');
const path = require('path');
const [tools, input, output, minified, banner] = process.argv.slice(2);
const need = (name) => require(path.join(tools, 'node_modules', name));
const babel = need('@babel/core');
const terser = need('terser');
const code = fs.readFileSync(input, 'utf8');
const result = babel.transformSync(code, {
  babelrc: false,
  configFile: false,
  sourceType: 'script',
  comments: true,
  presets: [[path.join(tools, 'node_modules', '@babel/preset-env'),
    { targets: { ie: '9' }, forceAllTransforms: true, modules: false }]],
  plugins: [path.join(tools, 'node_modules', '@babel/plugin-transform-object-assign')],
});
fs.writeFileSync(output, banner + '\n' + result.code + '\n');
terser.minify(result.code, {
  ecma: 5,
  compress: { ecma: 5 },
  mangle: true,
  format: { ecma: 5, comments: false, preamble: banner },
}).then((min) => { fs.writeFileSync(minified, min.code + '\n'); });
EOF
banner="/*! @stomp/stompjs $stompjs_version ($(license stompjs), see LICENSE.stompjs), transpiled to ES5 by scripts/refresh-vendor.sh */"

rm -rf "$dest"
mkdir -p "$dest"
node "$work/es5.js" "$work/tools" stompjs/bundles/stomp.umd.js \
  "$dest/stomp.es5.js" "$dest/stomp.es5.min.js" "$banner"
# The page loads the minified builds; the readable ones are kept for review, and the
# source map that sockjs.min.js names so that browser tools find it.
cp sockjs/dist/sockjs.min.js sockjs/dist/sockjs.min.js.map sockjs/dist/sockjs.js "$dest/"
cp promise/dist/polyfill.min.js "$dest/promise-polyfill.min.js"
cp promise/dist/polyfill.js "$dest/promise-polyfill.js"
cp textenc/text.min.js "$dest/fast-text-encoding.min.js"
cp sockjs/LICENSE "$dest/LICENSE.sockjs-client"
cp stompjs/LICENSE "$dest/LICENSE.stompjs"
cp promise/LICENSE "$dest/LICENSE.promise-polyfill"
cp textenc/LICENSE "$dest/LICENSE.fast-text-encoding"

{
  echo "# Browser libraries vendored from the npm registry by scripts/refresh-vendor.sh."
  echo "# package, version, license, npm integrity of the published tarball"
  printf '%-20s %-8s %-11s %s\n' sockjs-client "$sockjs_version" "$(license sockjs)" \
    "$(integrity sockjs-client "$sockjs_version")"
  printf '%-20s %-8s %-11s %s\n' @stomp/stompjs "$stompjs_version" "$(license stompjs)" \
    "$(integrity @stomp/stompjs "$stompjs_version")"
  printf '%-20s %-8s %-11s %s\n' promise-polyfill "$promise_version" "$(license promise)" \
    "$(integrity promise-polyfill "$promise_version")"
  printf '%-20s %-8s %-11s %s\n' fast-text-encoding "$textenc_version" "$(license textenc)" \
    "$(integrity fast-text-encoding "$textenc_version")"
  echo "#"
  echo "# sockjs.js, sockjs.min.js(.map)     <- sockjs-client/dist/ (ES5 as published)"
  echo "# stomp.es5.js, stomp.es5.min.js     <- @stomp/stompjs/bundles/stomp.umd.js, transpiled to ES5"
  echo "#     with @babel/core $(tool_version @babel/core), @babel/preset-env $(tool_version @babel/preset-env) (targets: ie 9),"
  echo "#     @babel/plugin-transform-object-assign $(tool_version @babel/plugin-transform-object-assign); minified with terser $(tool_version terser)"
  echo "# promise-polyfill(.min).js          <- promise-polyfill/dist/polyfill(.min).js (sets Promise only if missing)"
  echo "# fast-text-encoding.min.js          <- fast-text-encoding/text.min.js (sets TextEncoder/TextDecoder only if missing)"
  echo "# LICENSE.*                          <- each package's LICENSE"
} > "$dest/VERSIONS"

echo "vendored sockjs-client $sockjs_version, @stomp/stompjs $stompjs_version (ES5)," \
  "promise-polyfill $promise_version and fast-text-encoding $textenc_version into $dest"
