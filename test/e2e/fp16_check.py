"""fp16 training with loss scaling against torch.amp.GradScaler.

fp16_check.py PPC PPRUN WORKDIR

GPT (test/e2e/models.py), batch 4 in 4 micro-batches, AdamW, 16 steps of
ppc -train -precision=fp16 starting at a scale that overflows (2^24) with
growth interval 3, against torch 2.x (build/venv, scripts/setup.sh) under
torch.autocast("cpu", dtype=torch.float16) on fp32 master weights with
torch.amp.GradScaler("cpu", init_scale=2**24, growth_interval=3), same
weights and data:
- the scale of every step and the steps skipped are identical;
- the losses within 1e-3 relative;
- 1 stage, 4 stages, 2 stages x 2 replicas (-data-parallel=2, threads)
  and the same with -zero=1 as MPI processes give the same scales and
  skips, and the same losses bitwise (1 and 4 stages);
- resume: 8 steps, a checkpoint, and 8 more in a new process give the 16
  steps' scales and losses (the scale and growth tracker are in the
  checkpoint).
Exits 77 (skipped) without build/venv's torch 2.x.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import models  # noqa: E402

STEPS, BATCH, MICRO, LR, INIT, INTERVAL = 16, 4, 4, 1e-3, 2.0 ** 24, 3


def reference(work):
    """torch 2.x's side, run in build/venv: writes ref.json."""
    import torch.nn.functional as F
    model = models.make("gpt")[0].train()
    state = np.load(os.path.join(work, "gpt.state.npz"))
    model.load_state_dict({k: torch.from_numpy(state[k]) for k in state.files})
    x = torch.from_numpy(np.load(os.path.join(work, "gpt.x.npy")))
    y = torch.from_numpy(np.load(os.path.join(work, "gpt.y.npy")))
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=INIT,
                                  growth_interval=INTERVAL)
    losses, scales, skipped, pos = [], [], [], 0
    for _ in range(STEPS):
        idx = torch.arange(pos, pos + BATCH) % x.shape[0]
        pos = (pos + BATCH) % x.shape[0]
        opt.zero_grad()
        total = 0.0
        for px, py in zip(x[idx].chunk(MICRO), y[idx].chunk(MICRO)):
            with torch.autocast("cpu", dtype=torch.float16):
                out = model(px)
                loss = F.cross_entropy(out.reshape(-1, out.shape[-1]),
                                       py.reshape(-1)) / MICRO
            scaler.scale(loss).backward()
            total += loss.item()
        scale = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        losses.append(total)
        scales.append(scale)
        # update() backs off exactly when the step found an inf or NaN.
        skipped.append(scaler.get_scale() < scale)
    json.dump({"torch": torch.__version__, "losses": losses,
               "scales": scales, "skipped": skipped},
              open(os.path.join(work, "ref.json"), "w"))


def main():
    ppc, pprun, work = sys.argv[1:4]
    # A fresh folder: a checkpoint left by an earlier run would be resumed.
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    venv_python = os.path.join(os.path.dirname(os.path.dirname(ppc)),
                               "venv", "bin", "python")
    if not os.path.exists(venv_python):
        print(f"skipped: no {venv_python} (scripts/setup.sh installs torch "
              f"2.x there)")
        sys.exit(77)
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            failures.append(what)

    onnx = os.path.join(work, "gpt.onnx")
    model, input_name = models.export_train("gpt", onnx)
    np.savez(os.path.join(work, "gpt.state.npz"),
             **{k: v.numpy() for k, v in model.state_dict().items()})
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (64, 32), generator=g)
    y = torch.randint(0, 256, (64, 32), generator=g)
    np.save(os.path.join(work, "gpt.x.npy"), x.numpy())
    np.save(os.path.join(work, "gpt.y.npy"), y.numpy())
    r = subprocess.run([venv_python, os.path.abspath(__file__), "--reference",
                        work], capture_output=True, text=True)
    if r.returncode:
        check(False, "torch 2.x reference: " + r.stderr.strip()[-2000:])
        sys.exit(1)
    ref = json.load(open(os.path.join(work, "ref.json")))

    def run(tag, stages, steps, *extra, resume=False, dp=1, flags=()):
        out = os.path.join(work, tag)
        if not resume:
            c = subprocess.run(
                [ppc, onnx, "-train", f"-stages={stages}",
                 f"-batch={BATCH}", f"-microbatches={MICRO // dp}",
                 "-schedule=1f1b", "-partition=uniform",
                 f"-data-parallel={dp}", "-precision=fp16",
                 f"-loss-scale={int(INIT)}",
                 f"-loss-scale-growth-interval={INTERVAL}",
                 "-optimizer=adamw", f"-lr={LR}", "-weight-decay=0.01",
                 *flags, "-o", out], capture_output=True, text=True)
            if c.returncode:
                return None, c.stderr.strip()
        metrics = os.path.join(out, "metrics.jsonl")
        args = [pprun, out, "--threads", "2",
                "--data", f"{input_name}={work}/gpt.x.npy",
                "--data", f"labels={work}/gpt.y.npy",
                "--steps", str(steps), "--metrics", metrics,
                "--checkpoint-dir", os.path.join(out, "ck"), *extra]
        p = subprocess.run(args, capture_output=True, text=True)
        if p.returncode:
            return None, p.stderr.strip()
        return [json.loads(line) for line in open(metrics)], ""

    runs = {}
    for tag, stages, dp, flags, extra in [
            ("1", 1, 1, [], []), ("4", 4, 1, [], []), ("2x2", 2, 2, [], []),
            ("2x2 -zero=1 over MPI", 2, 2, ["-zero=1"], ["--transport=mpi"])]:
        got, err = run("fp16-" + tag.split()[0] + ("z" if flags else ""),
                       stages, STEPS, *extra, dp=dp, flags=flags)
        if got is None:
            check(False, f"fp16 {tag}: {err}")
            continue
        runs[tag] = got
        scales = [m["loss_scale"] for m in got]
        skipped = [m["skipped"] for m in got]
        rel = max(abs(m["loss"] - b) / abs(b)
                  for m, b in zip(got, ref["losses"]))
        check(scales == ref["scales"] and skipped == ref["skipped"],
              f"fp16 GPT, {tag} stages: scales {scales} (torch "
              f"{ref['torch']}: {ref['scales']}), skipped "
              f"{sum(skipped)} steps (torch {sum(ref['skipped'])})")
        check(len(got) == STEPS and rel <= 1e-3,
              f"fp16 GPT, {tag} stages: worst relative loss error {rel:.1e} "
              f"against torch's autocast and GradScaler (bound 1e-3)")
    if "1" in runs and "4" in runs:
        check([m["loss"] for m in runs["1"]] == [m["loss"] for m in runs["4"]],
              "fp16 GPT: 4 stages give 1 stage's losses bitwise")
    if "1" in runs:
        # 8 steps, then 8 more from the checkpoint in a new process.
        half, err = run("fp16-resume", 1, STEPS // 2)
        rest, err2 = run("fp16-resume", 1, STEPS, "--resume",
                         os.path.join(work, "fp16-resume", "ck"), resume=True)
        if half is None or rest is None:
            check(False, f"fp16 resume: {err or err2}")
        else:
            ck = json.load(open(os.path.join(
                work, "fp16-resume", "ck", f"step-{STEPS // 2}",
                "checkpoint.json")))
            whole = [(m["loss"], m["loss_scale"], m["skipped"])
                     for m in runs["1"]]
            check([(m["loss"], m["loss_scale"], m["skipped"])
                   for m in rest] == whole,
                  f"fp16 resume: 8 + 8 steps give the 16 steps' losses, "
                  f"scales and skips (checkpoint: scale "
                  f"{ck.get('loss_scale')}, growth tracker "
                  f"{ck.get('growth_tracker')}, optimizer steps "
                  f"{ck.get('optimizer_steps')} of {ck['step']})")
    print(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--reference"]:
        reference(sys.argv[2])
    else:
        main()
