#!/usr/bin/env bash
# Here, before a GPU is lent: put into .whl/ the wheels bench/gpu_smoke.py needs on the lent GPU
# machine, which has Python 3.12 with torch (CUDA), transformers, accelerate, peft, pandas and
# pyarrow but not trl, datasets, math-verify or our two packages, and no network.
#
#   bench/gpu_wheels.sh          # here (needs the package index); then, on the GPU machine:
#   bash bench/gpu_device.sh     # installs .whl/ into /tmp/site and runs the benchmark
#
# The versions are the ones installed in this environment (the ones the tests ran against).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
rm -rf .whl && mkdir .whl
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude

version() { "$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
# Missing there: trl and datasets, and what they and the rewards need that the image lacks.
WANTED=()
for name in trl datasets dill multiprocess xxhash math-verify latex2sympy2_extended antlr4-python3-runtime; do
    WANTED+=("$name==$(version "$name")")
done
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    PLATFORMS+=(--platform "$p")
done
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d .whl "${WANTED[@]}"
# Pure-Python packages with no wheel on the index (langdetect), and our two distributions.
"$PYTHON" -m pip wheel --quiet --no-deps -w .whl "langdetect==$(version langdetect)" ./rewards .
ls -1 .whl
du -sh .whl
echo "On the GPU machine (device tool: carry [\".whl\"]): bash bench/gpu_device.sh"
