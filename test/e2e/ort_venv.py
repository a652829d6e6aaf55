"""ONNX Runtime from build/venv (scripts/setup.sh installs it there, pinned
by scripts/requirements.txt): bench/ort_run.py run by the venv's python, for
the checks and benchmarks that run under Debian's python3."""
import os
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", ".."))
VENV = os.path.join(ROOT, "build", "venv")
REQUIREMENTS = os.path.join(ROOT, "scripts", "requirements.txt")


def python():
    """The venv's interpreter, or raises RuntimeError with one line that says
    what is missing and to run scripts/setup.sh."""
    py = os.path.join(VENV, "bin", "python")
    if not os.access(py, os.X_OK):
        raise RuntimeError(f"no ONNX Runtime: {py} is missing; run "
                           "scripts/setup.sh")
    try:
        with open(os.path.join(VENV, "requirements.txt"), "rb") as f:
            stamp = f.read()
    except OSError:
        stamp = None
    with open(REQUIREMENTS, "rb") as f:
        if f.read() != stamp:
            raise RuntimeError(f"{VENV} does not hold scripts/requirements.txt "
                               "as it is now; run scripts/setup.sh")
    return py


def version():
    """The venv's onnxruntime version (raises RuntimeError as python())."""
    r = subprocess.run([python(), "-c",
                        "import onnxruntime; print(onnxruntime.__version__)"],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{VENV}: cannot import onnxruntime; run "
                           "scripts/setup.sh")
    return r.stdout.strip()


def run(model, input_name, x_npy, threads, runs, out_bin, shape):
    """ONNX Runtime on model with x_npy as input_name: (ms per run, its first
    output as float32 of shape). Raises RuntimeError with one line."""
    import numpy as np  # here: python() serves interpreters without numpy
    r = subprocess.run(
        [python(), os.path.join(ROOT, "bench", "ort_run.py"), model,
         input_name, x_npy, str(threads), str(runs), out_bin],
        capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr.strip()
                           or f"ort_run.py exited {r.returncode}")
    ms = float(r.stdout.split()[1])
    return ms, np.fromfile(out_bin, dtype=np.float32).reshape(shape)
