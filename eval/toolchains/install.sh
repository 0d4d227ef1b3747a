#!/usr/bin/env bash
# Install the toolchains that eval's sandbox needs to run HumanEval-X in every language.
#
#     bash eval/toolchains/install.sh          # idempotent: a no-op (well under a second) when all is present
#
# Debian/Ubuntu packages: python3 + python3-numpy (the sandbox user's Python), g++, libboost-dev (C++ tasks 22, 137 include boost/any.hpp),
# libssl-dev (C++ task 162 links -lcrypto -lssl), nodejs + npm, a Java JDK (17),
# golang-go and golang-github-stretchr-testify-dev (the Go tests import testify, resolved offline
# with GO111MODULE=off GOPATH=/usr/share/gocode). JavaScript task 162 needs the npm package
# js-md5, installed into $MFT_NODE_PREFIX/node_modules (default /usr/local/lib/mft-eval as root,
# ~/.local/lib/mft-eval otherwise), where eval's JavaScript runner looks for it (NODE_PATH).
# Needs root (or sudo) for apt-get; prints what it installs, nothing when nothing is missing.
set -euo pipefail

JS_MD5_VERSION="0.8.3"
if [ "$(id -u)" = 0 ]; then SUDO=""; DEFAULT_PREFIX=/usr/local/lib/mft-eval
elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; DEFAULT_PREFIX="$HOME/.local/lib/mft-eval"
else SUDO="none"; DEFAULT_PREFIX="$HOME/.local/lib/mft-eval"; fi
NODE_PREFIX="${MFT_NODE_PREFIX:-$DEFAULT_PREFIX}"

missing=()
# programs run as an unprivileged user, who may not reach a Python under /root (pyenv, venvs):
# the sandbox falls back to Debian's python3, with numpy for HumanEval-X's import helper
{ [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import numpy" >/dev/null 2>&1; } || missing+=(python3 python3-numpy)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
[ -f /usr/include/boost/any.hpp ] || missing+=(libboost-dev)
[ -f /usr/include/openssl/md5.h ] || missing+=(libssl-dev)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
{ command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1; } || missing+=(default-jdk-headless)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/stretchr/testify/assert ] || missing+=(golang-github-stretchr-testify-dev)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$SUDO" = none ]; then
        echo "eval toolchains: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "eval toolchains: installing ${missing[*]}"
    log=$(mktemp)
    if ! { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        echo "eval toolchains: apt-get failed" >&2
        exit 1
    fi
    rm -f "$log"
fi

if [ ! -f "$NODE_PREFIX/node_modules/js-md5/package.json" ]; then
    echo "eval toolchains: installing js-md5@$JS_MD5_VERSION into $NODE_PREFIX/node_modules"
    mkdir -p "$NODE_PREFIX"
    npm install --silent --no-audit --no-fund --no-save --prefix "$NODE_PREFIX" "js-md5@$JS_MD5_VERSION" >/dev/null
    chmod -R a+rX "$NODE_PREFIX"  # programs run as unprivileged users
fi
