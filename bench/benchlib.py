"""Helpers the bench programs share: exported models, and timing a command."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "test", "e2e"))


def model_path(name, cache):
    """The ONNX file of a models.py model, exported once into cache."""
    import models
    return models.cached_export(name, cache)


def measure(cmd):
    """Wall time and peak RSS (bytes) of one run of cmd, in a fresh child."""
    probe = ("import resource,subprocess,sys,time;"
             "t=time.perf_counter();"
             "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL);"
             "w=time.perf_counter()-t;"
             "m=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
             "print(r.returncode,w,m)")
    out = subprocess.run([sys.executable, "-c", probe] + cmd,
                         capture_output=True, text=True, check=True).stdout
    rc, wall, maxrss = out.split()
    if int(rc) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with {rc}")
    return float(wall), int(maxrss) * 1024
