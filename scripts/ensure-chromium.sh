#!/bin/sh
# Browser tests drive Debian's chromium through Playwright (Playwright's own browser download
# is not used). Install it when missing and we are root; otherwise say what to install.
set -eu
browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$browser" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[browser] installing Debian's chromium for the browser tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "[browser] chromium is missing: install it (sudo apt-get install chromium) or set CHROMIUM_PATH" >&2
exit 1
