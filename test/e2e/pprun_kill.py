#!/usr/bin/python3
"""Kills one rank's process (SIGKILL) in the middle of an MPI run and checks
that every other rank ends, non-zero, within 30 s, with a message naming the
dead rank.

usage: pprun_kill.py PPC PPRUN CACHE_DIR [data-parallel]

data-parallel: a training run of 2 stages x 2 replicas, and the rank
killed (rank 1: pipeline rank 0, replica 1) is one of a replica group.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def alive(pid):
    """True while process `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def rank_processes(marker):
    """pid -> MPI rank of the pprun processes whose command line has marker."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(e.split(b"=", 1) for e in f.read().split(b"\0")
                           if b"=" in e)
        except OSError:
            continue
        if (cmd and cmd[0].endswith(b"pprun") and marker.encode() in b" ".join(cmd)
                and b"OMPI_COMM_WORLD_RANK" in env):
            found[int(pid)] = int(env[b"OMPI_COMM_WORLD_RANK"])
    return found


def main():
    ppc, pprun, cache = sys.argv[1:4]
    dp = sys.argv[4:5] == ["data-parallel"]
    import models
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "kill-test")
        if dp:
            path = os.path.join(tmp, "gpt-train.onnx")
            models.export_train("gpt", path)
            shape = ["-stages=2", "-data-parallel=2", "-train",
                     "-partition=uniform"]
            forever = ["--steps=1000000"]
        else:
            path = models.cached_export("gpt", cache)
            shape = ["-stages=4"]
            forever = ["--iterations=1000000"]
        subprocess.run([ppc, path, *shape, "-batch=8", "-microbatches=4",
                        "-device=cpu", "-o", out], check=True,
                       capture_output=True)
        run = subprocess.Popen([pprun, out, "--transport=mpi", *forever],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            procs = rank_processes(out)
            if len(procs) == 4:
                break
            time.sleep(0.2)
        else:
            run.kill()
            print("FAIL: the 4 ranks did not start")
            return 1
        time.sleep(1.0)  # mid-run
        victim = next(pid for pid, rank in procs.items() if rank == 1)
        os.kill(victim, signal.SIGKILL)
        killed = time.time()
        try:
            output, _ = run.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            run.kill()
            print("FAIL: ranks still running 30 s after rank 1 was killed")
            return 1
        took = time.time() - killed

        # mpirun can return while it is still taking the other ranks down:
        # each must be gone within the same 30 s.
        while True:
            survivors = [pid for pid in procs if pid != victim and alive(pid)]
            if not survivors or time.time() - killed > 30:
                break
            time.sleep(0.1)
        lines = [l for l in output.splitlines() if "rank 1" in l]
        print(output.strip()[-2000:])
        ok = run.returncode != 0 and not survivors and lines
        print(f"{'PASS' if ok else 'FAIL'}: exit {run.returncode} "
              f"{took:.1f} s after SIGKILL of rank 1; "
              f"message: {lines[0].strip() if lines else '(none naming rank 1)'}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
