#!/usr/bin/env bash
# Create or reuse .venv/ at the repo root and install trainlab with what it needs.
#   bash scripts/setup.sh          # for running trainlab
#   bash scripts/setup.sh --test   # also the test tools (pytest, headless Chromium) and what the tests
#                                  # exercise: the loggers (TensorBoard, MLflow), the notebooks' kernel, the docs build
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

# System packages from Debian: Fashion-MNIST (70k images) and, for the tests, Chromium and PostgreSQL.
pkgs=()
[ -d /usr/share/datasets/fashion-mnist ] || pkgs+=(dataset-fashion-mnist)
if [ "$with_tests" = 1 ] && ! command -v chromium >/dev/null 2>&1; then pkgs+=(chromium); fi
# the search tests start a throwaway PostgreSQL server (Debian's package) for shared study storage
if [ "$with_tests" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then pkgs+=(postgresql); fi
if [ ${#pkgs[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${pkgs[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"; } >/tmp/trainlab-apt.log 2>&1; then
      echo "setup: apt-get failed (log: /tmp/trainlab-apt.log); going on without: ${pkgs[*]}"
    fi
  else
    echo "setup: not root or no apt-get; skipping Debian packages: ${pkgs[*]} (trainlab falls back to bundled data)"
  fi
fi

py=${PYTHON:-}
if [ -z "$py" ]; then
  for c in python3.11 python3; do command -v "$c" >/dev/null 2>&1 && { py=$c; break; }; done
fi
[ -x .venv/bin/python ] || { echo "setup: creating .venv with $py"; "$py" -m venv .venv; }

# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || { echo "setup: installing torch 2.13.0 (CPU)"; .venv/bin/pip install -q torch==2.13.0; }
extras="search"
[ "$with_tests" = 1 ] && extras="search,test,tensorboard,mlflow,notebooks,docs"
echo "setup: installing trainlab[$extras] in .venv"
.venv/bin/pip install -q --disable-pip-version-check -e ".[$extras]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import trainlab, torch; print(f'setup: ok (trainlab {trainlab.__version__}, torch {torch.__version__})')"
