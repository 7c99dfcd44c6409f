#!/usr/bin/env sh
# Prints the headless Chromium the console's browser tests drive: $CHROMIUM, else one
# on PATH. When none is there and this is a Debian-like machine where we are root
# (CI), installs Debian's `chromium` package first. Exits 1, saying what to do, when
# there is none.
found() { command -v "$1" >/dev/null 2>&1 && command -v "$1"; }

if [ -n "${CHROMIUM:-}" ]; then
  if [ -x "$CHROMIUM" ]; then echo "$CHROMIUM"; exit 0; fi
  echo "CHROMIUM=$CHROMIUM is not an executable file." >&2; exit 1
fi
for name in chromium chromium-browser google-chrome; do found "$name" && exit 0; done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests (once; a minute or two)..." >&2
  if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends chromium; } >/tmp/find-chromium.log 2>&1; then
    found chromium && exit 0
  fi
  echo "apt-get install chromium failed; see /tmp/find-chromium.log." >&2
fi
echo "No Chromium for the console's browser tests. Install it (Debian/Ubuntu:" \
  "'apt-get install chromium'), or set CHROMIUM=/path/to/chrome." >&2
exit 1
