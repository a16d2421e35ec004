#!/usr/bin/env bash
# The GPU checks of issue 11, in one script for a CUDA machine, run from the repository root:
#   1. pytest -m gpu (tests/training/test_gpu.py), the device tests and the 2-process DDP tests (gloo);
#   2. a small `deepsci fit` on the GPU in bfloat16 mixed precision (metrics.json kept);
#   3. benchmarks/gpu_speed.py (deepsci vs a plain PyTorch loop vs Lightning).
# Everything it prints also goes to $OUT/gpu_check.log (OUT defaults to ./gpu_check_out).
#
# The machine it was written for has no network: it uses the system python3 that holds a CUDA build of
# torch, and installs deepsci's other dependencies that python lacks from wheels in .whl/ (pydantic,
# pydantic-core, annotated-types, typing-inspection, typing-extensions, tomli-w; see docs/scale.md),
# into /tmp/site. deepsci itself runs from src/ (PYTHONPATH), with its package metadata written beside
# the wheels, so no build step and no download is needed. Where .whl/ is absent, pip installs nothing and
# the checks use what python already has.
set -u
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
PY="${PYTHON:-python3}"
status=0
step() { echo; echo "=== $1 ($(date -u +%H:%M:%S))"; }
fail() { echo "FAILED: $1"; status=1; }

checks() {
step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || fail "nvidia-smi"
"$PY" -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda,
'available', torch.cuda.is_available())" || fail "python with torch"

step "install"
SITE=/tmp/site
mkdir -p "$SITE"
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
    || fail "pip install of the carried wheels"
fi
VERSION=$("$PY" -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
mkdir -p "$SITE/deepsci-$VERSION.dist-info"
printf 'Metadata-Version: 2.1\nName: deepsci\nVersion: %s\n' "$VERSION" > "$SITE/deepsci-$VERSION.dist-info/METADATA"
export PYTHONPATH="$PWD/src:$SITE${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import deepsci, pydantic, tomli_w, torch; from importlib.metadata import version;
print('deepsci', version('deepsci'), 'from', deepsci.__file__, '| pydantic', pydantic.VERSION)" || fail "import deepsci"

step "pytest -m gpu, device and DDP tests"
timeout 180 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/training/test_gpu.py --durations=8 \
  || fail "pytest -m gpu"
timeout 120 "$PY" -m pytest -q -p no:cacheprovider tests/training/test_device.py tests/training/test_distributed.py \
  --durations=4 || fail "device and DDP tests"

step "deepsci fit on cuda, bf16-mixed"
rm -rf /tmp/gpu_runs
timeout 70 "$PY" -m deepsci fit examples/digits_cnn.toml --device cuda --set train.precision=bf16-mixed \
  --set train.epochs=5 --set report.html=false --out /tmp/gpu_runs || fail "deepsci fit on cuda"
cp /tmp/gpu_runs/*/metrics.json "$OUT/fit_metrics.json" 2>/dev/null || fail "no metrics.json"
"$PY" -c "import json; m = json.load(open('$OUT/fit_metrics.json')); print('environment:', m['environment']);
print('test:', m['test'])" || true

step "benchmarks/gpu_speed.py"
timeout 170 "$PY" benchmarks/gpu_speed.py --json "$OUT/gpu_speed.json" > "$OUT/gpu_speed.md" \
  || fail "gpu_speed.py"
cat "$OUT/gpu_speed.md"

step "done: status $status"
return $status
}

checks 2>&1 | tee "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
