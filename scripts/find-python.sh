#!/usr/bin/env sh
# Prints the interpreter to build the venv with: python3.13 (the Lambda runtime)
# from PATH or the pyenv root, else any python3 >= 3.11. Exits 1 when none fits.
# With --lambda, only python3.13 will do (`sam build` checks its binary against the
# runtime): exits 1, saying how to get it, when there is none.
works() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }
lambda_only=false; [ "${1:-}" = "--lambda" ] && lambda_only=true

if command -v python3.13 >/dev/null 2>&1 && works python3.13; then
  command -v python3.13; exit 0
fi
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for candidate in $(ls -d "$root"/versions/3.13*/bin/python3.13 2>/dev/null | sort -r); do
  if works "$candidate"; then echo "$candidate"; exit 0; fi
done
if $lambda_only; then
  echo "sam build needs Python 3.13, the Lambda runtime, as python3.13 on PATH or under" \
    "the pyenv root. Install it (\`pyenv install 3.13\`, or your system's python3.13" \
    "package), then run this again." >&2
  exit 1
fi
for candidate in python3.14 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && works "$candidate"; then
    command -v "$candidate"; exit 0
  fi
done
echo "No Python >= 3.11 found (wanted python3.13, the Lambda runtime)." >&2
exit 1
