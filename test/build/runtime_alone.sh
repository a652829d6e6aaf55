#!/bin/bash
# The runtime built as the GPU machine builds it (bench/gpu/build_alone.sh:
# alone, with a prebuilt schema header and no OpenBLAS, MPI or oneDNN). It
# must link none of them, train a pipeline to the same losses as the full
# build, and say that --transport=mpi was not built.
#
# runtime_alone.sh SOURCE_DIR SCHEMA_HEADER PPC PPRUN WORKDIR
set -euo pipefail
src="$1" schema="$2" ppc="$3" pprun="$4" work="$5"
rm -rf "$work" && mkdir -p "$work/carry/pprt"
cp "$schema" "$work/carry/pprt/"
"$src/bench/gpu/build_alone.sh" "$work/carry" "" "$work/build" pprun \
  > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
bare="$work/build/bin/pprun"
if ldd "$bare" | grep -Ei 'mpi|openblas|libblas|dnnl'; then
  echo "FAIL: the runtime built alone links the libraries above"; exit 1
fi
echo "ok   built alone; links no MPI, BLAS or oneDNN"

# A two-stage training pipeline of a small MLP (ONNX written by python).
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
w = sys.argv[1]
rng = np.random.RandomState(0)
inits = [numpy_helper.from_array(rng.randn(16, 8).astype(np.float32) * .3, "w1"),
         numpy_helper.from_array(rng.randn(4, 16).astype(np.float32) * .3, "w2")]
nodes = [helper.make_node("Gemm", ["x", "w1"], ["h"], transB=1),
         helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Gemm", ["r", "w2"], ["output"], transB=1)]
g = helper.make_graph(nodes, "mlp",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
                      [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 4])],
                      inits)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
          w + "/mlp.onnx")
np.save(w + "/x.npy", rng.randn(32, 8).astype(np.float32))
np.save(w + "/y.npy", rng.randint(0, 4, 32))
PY
"$ppc" "$work/mlp.onnx" -train -stages=2 -batch=8 -microbatches=4 \
  -o "$work/out" > /dev/null
for run in full bare; do
  bin="$pprun"; [ "$run" = bare ] && bin="$bare"
  "$bin" "$work/out" --data x="$work/x.npy" --data labels="$work/y.npy" \
    --steps 5 --metrics "$work/$run.jsonl" > /dev/null
done
/usr/bin/python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
full = [json.loads(l)["loss"] for l in open(w + "/full.jsonl")]
bare = [json.loads(l)["loss"] for l in open(w + "/bare.jsonl")]
err = max(abs(a - b) / abs(a) for a, b in zip(full, bare))
ok = len(full) == len(bare) == 5 and err <= 1e-5
print(("ok   " if ok else "FAIL ") + f"5 training steps: losses within {err:.1e} "
      f"of the full build's ({full[0]:.4f} -> {full[-1]:.4f})")
sys.exit(0 if ok else 1)
PY
msg="$("$bare" "$work/out" --data x="$work/x.npy" --data labels="$work/y.npy" \
  --transport=mpi 2>&1 || true)"
case "$msg" in
  *"built without MPI"*) echo "ok   --transport=mpi: $msg" ;;
  *) echo "FAIL --transport=mpi: $msg"; exit 1 ;;
esac
# Where the CUDA toolkit is found the runtime has the CUDA backend; on a
# machine without a GPU it says so in one line.
if grep -q "building the CUDA backend" "$work/cmake.log"; then
  if msg="$("$bare" "$work/out" --data x="$work/x.npy" \
      --data labels="$work/y.npy" --steps 5 --backend=cuda 2>&1)"; then
    echo "ok   --backend=cuda: trains (a GPU is present)"
  else
    case "$msg" in
      *"no usable GPU here"*) echo "ok   --backend=cuda without a GPU: $msg" ;;
      *) echo "FAIL --backend=cuda: $msg"; exit 1 ;;
    esac
  fi
fi
