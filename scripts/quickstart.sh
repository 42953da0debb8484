#!/usr/bin/env bash
# Sets kutils up on a fresh Debian machine, then runs the demo or the test suite.
#
#   bash scripts/quickstart.sh demo          # set up, then `kutils demo`
#   bash scripts/quickstart.sh test [ARGS]   # set up, then `pytest [ARGS]`
#
# Set-up: Debian packages (graphviz for plot_model, python3-venv) when missing,
# a virtual environment in .venv (or $KUTILS_VENV), and kutils with its extras.
set -euo pipefail
cd "$(dirname "$0")/.."

task=${1:-}
case "$task" in
  demo|test) shift ;;
  *) echo "usage: bash scripts/quickstart.sh demo|test [pytest arguments]" >&2; exit 2 ;;
esac

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "quickstart: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv=${KUTILS_VENV:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
echo "quickstart: installing kutils[all,test] into $venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[all,test]"

export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
if [ "$task" = demo ]; then
  exec "$venv/bin/kutils" demo "$@"
fi
exec "$venv/bin/python" -m pytest "$@"
