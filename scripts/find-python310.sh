#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter for the Rasa runtime, or explains what to do.
# Order: $RASA_PYTHON, python3.10 on PATH (if it really runs), pyenv's 3.10.x.
set -euo pipefail
ok() { "$1" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; }
if [ -n "${RASA_PYTHON:-}" ]; then
  if ok "$RASA_PYTHON"; then echo "$RASA_PYTHON"; exit 0; fi
  echo "RASA_PYTHON=$RASA_PYTHON is not a working Python 3.10" >&2; exit 1
fi
if command -v python3.10 >/dev/null 2>&1 && ok python3.10; then command -v python3.10; exit 0; fi
for root in "${PYENV_ROOT:-$HOME/.pyenv}" /root/.pyenv /opt/pyenv; do
  for py in "$root"/versions/3.10*/bin/python3.10; do
    if [ -x "$py" ] && ok "$py"; then echo "$py"; exit 0; fi
  done
done
cat >&2 <<'MSG'
Python 3.10 was not found. Rasa Open Source 3.6 (the NLU server) runs only on Python 3.8-3.10.
Install it, then run this again, for example:
  pyenv install 3.10.13            (pyenv)
  apt-get install python3.10-venv  (Debian/Ubuntu with a 3.10 package)
or point RASA_PYTHON at an existing interpreter:  RASA_PYTHON=/path/to/python3.10 make setup
MSG
exit 1
