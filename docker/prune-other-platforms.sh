#!/bin/sh
# Deletes the native builds that npm packages ship for every other platform, keeping this image's own: ONNX
# Runtime's bin/napi-v*/<platform>/<arch> folders and tokenizers' tokenizers.<platform>-<arch>[-<abi>].node files.
# They are most of an image's size (about 245 MB and 60 MB) and nothing loads them.
#   sh prune-other-platforms.sh NODE_MODULES_DIR
set -eu
modules=$1
platform=$(node -p process.platform)
arch=$(node -p process.arch)
for napi in "$modules"/onnxruntime-node/bin/napi-v*; do
  [ -d "$napi" ] || continue
  find "$napi" -mindepth 2 -maxdepth 2 -type d ! -path "$napi/$platform/$arch" -exec rm -rf {} +
  find "$napi" -mindepth 1 -maxdepth 1 -type d -empty -delete
done
if [ -d "$modules/tokenizers" ]; then
  # glibc images: the -gnu build (musl's is for Alpine).
  find "$modules/tokenizers" -maxdepth 1 -name 'tokenizers.*.node' ! -name "tokenizers.$platform-$arch-gnu.node" -delete
fi
