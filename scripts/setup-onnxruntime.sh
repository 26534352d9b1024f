#!/usr/bin/env bash
# Provisions the pinned ONNX Runtime shared library for the host (clusterai-nn).
#
# Fetches the PyPI wheel of the version pinned in pins.toml with pip (the only
# registry this needs), extracts onnxruntime/capi/<library> into the cache
# outside the repository, checks its SHA-256 and prints its path. Idempotent:
# a verified library already in the cache is left alone and no network is used.
#
#   scripts/setup-onnxruntime.sh            # prints the library path
#   export ORT_DYLIB_PATH="$(scripts/setup-onnxruntime.sh)"
#
# The host finds the library through ORT_DYLIB_PATH, or at the default path
# printed here when ORT_DYLIB_PATH is unset.
#
# Environment (scripts/env.sh): CLUSTERAI_CACHE (cache root), CLUSTERAI_WHEELS
# (a folder that already holds the wheel, for offline machines).
set -euo pipefail
unset ORT_DYLIB_PATH  # this script installs the pinned library, wherever that variable points
source "$(dirname "$0")/env.sh"

VERSION="$(pin onnxruntime.version)"
LIB="$(pin onnxruntime.library)"
WHEEL_NAME="$(pin onnxruntime.wheel)"
LIB_SHA256="$(pin onnxruntime.library_sha256)"
TARGET="$ORT_LIBRARY"
DEST="$(dirname "$TARGET")"

say() { echo "setup-onnxruntime: $*" >&2; }

verify() {
    [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$LIB_SHA256" ]
}

if verify "$TARGET"; then
    echo "$TARGET"
    exit 0
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    say "this script pins the Linux x86_64 build; on $(uname -s)-$(uname -m) set ORT_DYLIB_PATH to an ONNX Runtime $VERSION library yourself"
    exit 1
fi

mkdir -p "$DEST"
WHEELS="$CLUSTERAI_WHEELS"
mkdir -p "$WHEELS"
WHEEL="$(ls "$WHEELS/$WHEEL_NAME" 2>/dev/null | head -n1 || true)"
if [ -z "$WHEEL" ]; then
    command -v pip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || {
        say "needs pip (python3 -m pip) to fetch onnxruntime==$VERSION from PyPI"
        exit 1
    }
    say "fetching onnxruntime==$VERSION from PyPI into $WHEELS"
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version 3.11 --platform manylinux_2_28_x86_64 \
        "onnxruntime==$VERSION" -d "$WHEELS" >&2
    WHEEL="$(ls "$WHEELS/$WHEEL_NAME")"
fi

TMP="$(mktemp -d "$DEST/.extract.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
python3 - "$WHEEL" "$TMP/$LIB" "onnxruntime/capi/$LIB" <<'PY'
import shutil, sys, zipfile
wheel, out, member = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY

if ! verify "$TMP/$LIB"; then
    say "SHA-256 of $LIB from $WHEEL is $(sha256sum "$TMP/$LIB" | cut -d' ' -f1), expected $LIB_SHA256; refusing it"
    exit 1
fi
mv -f "$TMP/$LIB" "$TARGET"
say "installed $TARGET ($(stat -c %s "$TARGET") bytes, sha256 ok)"
echo "$TARGET"
