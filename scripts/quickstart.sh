#!/usr/bin/env bash
# Sets kutils up on a fresh Debian machine, then runs the demo or the test suite.
#
#   bash scripts/quickstart.sh demo          # set up, then `kutils demo`
#   bash scripts/quickstart.sh test [ARGS]   # set up, then `pytest [ARGS]` on each stack below
#
# Set-up: Debian packages (graphviz for plot_model, python3-venv; for `test` also chromium and
# fonts-noto-cjk, for the docs site test) when missing,
# a virtual environment in .venv (or $KUTILS_VENV), and kutils with its extras.
#
# `test` runs the suite once per stack named in $KUTILS_STACKS (default: "newest tf_keras"; add
# "oldest" for the third, or run `tox -e tf216`: the three together pass the 30-minute CI aim on 2 cores):
#   newest    TensorFlow 2.21 + Keras 3.15, in .venv (or $KUTILS_VENV)
#   tf_keras  the same environment with tf_keras 2.21, run with TF_USE_LEGACY_KERAS=1
#   oldest    TensorFlow 2.16.2 + Keras 3.3.3, in .venv-tf216 (or $KUTILS_VENV_OLDEST)
# Every stack runs even if an earlier one fails; the exit status is 1 if any failed.
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
if [ "$task" = test ]; then  # the docs site test opens the built site in chromium; Japanese needs CJK fonts
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  [ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
fi
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "quickstart: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# install VENV PIP-ARGUMENTS...: creates the virtual environment if needed, then pip-installs into it.
install() {
  local venv=$1
  shift
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  echo "quickstart: installing $* into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@"
}

export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
venv=${KUTILS_VENV:-.venv}
if [ "$task" = demo ]; then
  install "$venv" -e ".[all,test]"
  exec "$venv/bin/kutils" demo "$@"
fi

# In .venv also the type checkers (the typing tests run with the suite); editable_mode=compat is a
# plain path entry, so mypy and pyright find kutils (the default import hook hides it from them).
typed=(--config-settings editable_mode=compat)
stacks=${KUTILS_STACKS:-newest tf_keras}
failed=()
for stack in $stacks; do
  start=$SECONDS
  case "$stack" in
    newest)
      install "$venv" -e ".[all,test,types,docs]" "${typed[@]}"
      run=(env -u TF_USE_LEGACY_KERAS "$venv/bin/python" -m pytest "$@") ;;
    tf_keras)
      install "$venv" -e ".[all,test,types,docs,tf-keras]" "${typed[@]}"
      run=(env TF_USE_LEGACY_KERAS=1 "$venv/bin/python" -m pytest "$@") ;;
    oldest)
      oldest=${KUTILS_VENV_OLDEST:-.venv-tf216}
      install "$oldest" -e ".[all,test,types,docs]" "${typed[@]}" "tensorflow==2.16.2" "keras==3.3.3"
      run=(env -u TF_USE_LEGACY_KERAS "$oldest/bin/python" -m pytest "$@") ;;
    *) echo "quickstart: unknown stack '$stack' in KUTILS_STACKS (newest, tf_keras, oldest)" >&2; exit 2 ;;
  esac
  echo "quickstart: === stack $stack: ${run[*]}"
  status=0
  "${run[@]}" || status=$?
  echo "quickstart: === stack $stack: exit status $status after $((SECONDS - start)) s"
  ((status == 0)) || failed+=("$stack")
done
if ((${#failed[@]})); then
  echo "quickstart: FAILED on: ${failed[*]}" >&2
  exit 1
fi
echo "quickstart: all stacks passed: $stacks"
