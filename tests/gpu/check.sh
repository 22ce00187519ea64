#!/usr/bin/env bash
# The GPU check, on a machine with an NVIDIA GPU and no network (issue 13), from the
# repository root:
#     tests/gpu/check.sh RESULTS_DIR
# It installs hyc without fetching anything (wheels of what the machine lacks, lark at least,
# go in .whl/: `pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl lark`),
# runs the GPU tests, then benchmarks/gpu.py, and writes into RESULTS_DIR: device.txt,
# install.log, tests.log, bench.log and bench.json. About 6 minutes.
set -uo pipefail
out=${1:?usage: tests/gpu/check.sh RESULTS_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
if compgen -G ".whl/*.whl" > /dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/hyc-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/hyc-site${PYTHONPATH:+:$PYTHONPATH}
fi
"$python" -m pip install --no-index --no-deps --no-build-isolation -e . > "$out/install.log" 2>&1 \
    || { tail -20 "$out/install.log"; exit 1; }
{ nvidia-smi -L; "$python" -c "import hyc.codegen.cuda as c; print(c.gpu_context().name)"; } \
    > "$out/device.txt" 2>&1
cat "$out/device.txt"
status=0
timeout 300 "$python" -m pytest -q -p no:cacheprovider tests/gpu tests/codegen/test_cuda.py \
    2>&1 | tee "$out/tests.log" || status=1
timeout 300 "$python" benchmarks/gpu.py --json "$out/bench.json" 2>&1 | tee "$out/bench.log" \
    || status=1
exit $status
