#!/usr/bin/python3
"""Stops one rank's process (SIGSTOP: alive, never answering) in the middle
of an MPI run, for every rank of 2- and 4-rank pipelines, inference and
training, and checks that every other rank ends, non-zero, within
--timeout + 5 s, with a message naming the stopped rank. A stopped peer is
what a dead one is not: its sockets stay open, so only a deadline on every
wait, sends included, ends the run.

usage: pprun_stop.py PPC PPRUN WORK_DIR
"""
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pprun_kill import alive, rank_processes  # noqa: E402

TIMEOUT = 3  # --timeout, seconds
SLACK = 5    # what the ranks may take beyond it


def wide_mlp(path, width=1024):
    """Four layers, activations of 8 KiB a micro-batch: past MPI's eager
    limit, so that a send to a stopped rank stays pending."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save
    rng = np.random.RandomState(0)
    nodes, inits, prev = [], [], "x"
    for i, (k, n) in enumerate([(width, width)] * 3 + [(width, 8)]):
        w = f"fc{i}.weight"
        inits.append(numpy_helper.from_array(
            (rng.randn(k, n) / np.sqrt(k)).astype(np.float32), w))
        nodes.append(helper.make_node("MatMul", [prev, w], [f"h{i}"],
                                      name=f"/fc{i}/MatMul"))
        prev = f"h{i}"
        if i < 3:
            nodes.append(helper.make_node("Relu", [prev], [f"r{i}"],
                                          name=f"/relu{i}/Relu"))
            prev = f"r{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"], name="/out"))
    g = helper.make_graph(
        nodes, "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        inits)
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
         path)


def stop_one(pprun, out, training, ranks, victim):
    """Runs the pipeline, stops rank `victim`; (ok, message)."""
    work = ["--steps=100000000"] if training else ["--iterations=100000000"]
    run = subprocess.Popen([pprun, out, "--transport=mpi", "--threads=1",
                            f"--timeout={TIMEOUT}"] + work,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, start_new_session=True)
    procs, victim_pid = {}, None
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            procs = rank_processes(out)
            if len(procs) == ranks:
                break
            time.sleep(0.1)
        else:
            return False, f"the {ranks} ranks did not start"
        time.sleep(1.0)  # mid-run
        victim_pid = next(pid for pid, r in procs.items() if r == victim)
        os.kill(victim_pid, signal.SIGSTOP)
        stopped = time.time()
        others = [pid for pid in procs if pid != victim_pid]
        while any(alive(pid) for pid in others):
            if time.time() - stopped > TIMEOUT + SLACK:
                left = sorted(procs[p] for p in others if alive(p))
                return False, (f"ranks {left} still running "
                               f"{TIMEOUT + SLACK} s after rank {victim} "
                               "was stopped")
            time.sleep(0.05)
        took = time.time() - stopped
    finally:
        # Nothing left behind: the stopped rank, mpirun.
        if victim_pid is not None and alive(victim_pid):
            os.kill(victim_pid, signal.SIGKILL)
            os.kill(victim_pid, signal.SIGCONT)
        try:
            output, _ = run.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            output, _ = run.communicate()
    named = [l.strip() for l in output.splitlines()
             if f"rank {victim}" in l and "error" in l]
    if run.returncode == 0:
        return False, "mpirun exited 0"
    if not named:
        return False, (f"no error names rank {victim}: "
                       + output.strip()[-1500:])
    return True, f"all ranks gone {took:.1f} s after SIGSTOP: {named[0]}"


def main():
    ppc, pprun, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    onnx = os.path.join(work, "wide.onnx")
    wide_mlp(onnx)
    failures = 0
    for training in (False, True):
        for ranks in (2, 4):
            out = os.path.join(work, f"{'train' if training else 'infer'}"
                               f"-{ranks}")
            extra = ["-train", "-loss=mse", "-labels=target"] if training \
                else []
            subprocess.run([ppc, onnx, f"-stages={ranks}", "-batch=8",
                            "-microbatches=4", "-device=cpu", "-o", out]
                           + extra, check=True, capture_output=True)
            for victim in range(ranks):
                ok, message = stop_one(pprun, out, training, ranks, victim)
                print(f"{'PASS' if ok else 'FAIL'}: "
                      f"{'training' if training else 'inference'}, {ranks} "
                      f"ranks, rank {victim} stopped: {message}", flush=True)
                failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
