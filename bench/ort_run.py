"""Times ONNX Runtime (the onnxruntime package, CPU) on one model and input:
  build/venv/bin/python bench/ort_run.py MODEL.onnx INPUT_NAME INPUT.npy THREADS RUNS OUT.bin
Prints "ms_per_run N"; writes the first output's raw float32 to OUT.bin.
Runs in build/venv (scripts/setup.sh), not under Debian's python3.
"""
import sys
import time

import numpy as np
import onnxruntime as ort


def main(argv):
    if len(argv) != 6:
        sys.exit("usage: ort_run.py MODEL.onnx INPUT_NAME INPUT.npy THREADS "
                 "RUNS OUT.bin")
    model, input_name, input_path, threads, runs, out_path = argv
    try:
        threads, runs = int(threads), int(runs)
    except ValueError:
        sys.exit(f"ort_run.py: THREADS and RUNS must be integers, not "
                 f"'{argv[3]}' and '{argv[4]}'")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: its warnings are not ours
    try:
        with open(input_path, "rb") as f:
            x = np.lib.format.read_array(f, allow_pickle=False)
    except (OSError, ValueError) as e:
        sys.exit(f"ort_run.py: {input_path}: " + " ".join(str(e).split()))
    try:
        session = ort.InferenceSession(model, opts,
                                       providers=["CPUExecutionProvider"])
        feeds = {input_name: x}
        out = session.run(None, feeds)  # warm-up
        t0 = time.perf_counter()
        for _ in range(runs):
            out = session.run(None, feeds)
        ms = (time.perf_counter() - t0) * 1e3 / max(runs, 1)
    except Exception as e:  # ORT's and numpy's errors, as one line
        sys.exit(f"ort_run.py: {model}: " + " ".join(str(e).split()))
    first = out[0]
    if first.dtype != np.float32:
        sys.exit(f"ort_run.py: {model}: the first output "
                 f"'{session.get_outputs()[0].name}' is {first.dtype}, "
                 "not float32")
    np.ascontiguousarray(first).tofile(out_path)
    print("ms_per_run", ms)


if __name__ == "__main__":
    main(sys.argv[1:])
