#!/usr/bin/python3
"""Real exports of the current torch through ppc and pprun, with a table
of what works and, for each failure, why.

usage: export_check.py PPC PPRUN WORKDIR [--models A,B] [--paths P,Q]
           [--opsets O,P] [--no-train] [--xfail FILE] [--write-xfail FILE]
           [--no-xfail] [--keep] [--no-cache]

Runs under build/venv's python (scripts/setup.sh: torch, torchvision,
transformers, timm, onnxscript from scripts/requirements.txt); started by
another python it runs itself again under that one. For each model of
export_models.py (default: HF_TIMM and SEQUENCE; '--models torchvision'
the current torchvision's catalogue) and each exporter path (torch.onnx.export
with dynamo=True, the default, and dynamo=False, the TorchScript exporter)
at each opset ('default': none asked for; 17, the newest ppc imports
today; 23), with a dynamic batch axis (a static one where the exporter
cannot), the steps are:

  export   torch.onnx.export into WORKDIR (kept there for the next run
           while torch, the models and this file are unchanged)
  import   ppc FILE -batch=2 (import, checker, shape inference, verifier)
  compile  ppc FILE -stages=1 and -stages=4, -batch=8 -microbatches=4
  run      pprun on both (the local transport)
  match    the 1-stage and 4-stage outputs within 1e-4 of PyTorch's on the
           same batch (max |got - want| / max |want|, in fp32)
  bitwise  the 4-stage output equal to the 1-stage one, bit for bit
  train    (export_models.TRAIN) a training export (docs/training.md: no
           constant folding; for dynamo, optimize=False, which folds and
           merges initializers the same way) compiled with -train
           -stages=4 -schedule=1f1b, 20 steps of SGD with momentum; every
           step's loss within 1e-4 (relative) of PyTorch's on the same data
           (test/e2e/train_ref.py)

A case is MODEL/PATH/OPSET (and MODEL/PATH/OPSET/train). A case that fails
must be listed in the --xfail file (default export_xfail.txt beside this
file) as 'CASE: STEP: cause'; a listed case that passes, or that fails at
another step than the one listed, is an error too, so that the list stays
the truth. --write-xfail writes the list of this run's failures.
Exit 0 when every failure is listed and every listed case fails as listed;
with --no-xfail, only when every case passes.
"""
import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ort_venv  # noqa: E402


def _reexec_in_venv():
    if os.path.realpath(sys.prefix) == os.path.realpath(ort_venv.VENV):
        return
    try:
        py = ort_venv.python()
    except RuntimeError as e:
        print(f"export-check needs the current torch in build/venv: {e}")
        sys.exit(1)
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


_reexec_in_venv()

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402

import export_models  # noqa: E402
import pipeline_run  # noqa: E402
import train_ref  # noqa: E402

PATHS = ["dynamo", "torchscript"]
OPSETS = ["default", "17", "23"]
MICROBATCHES = 4
STAGES = 4
TOLERANCE = 1e-4
TRAIN_STEPS = 20
TRAIN_FLAGS = ["-train", "-schedule=1f1b", "-partition=uniform",
               "-optimizer=sgd", "-lr=0.05", "-momentum=0.9"]
TRAIN_SAMPLES = 64
STEPS = ["export", "import", "compile", "run", "match", "bitwise"]
# The newest opset ppc imported when this check was written; ops whose
# definition is newer are named in the notes of a failing case.
PPC_OPSET = 17


def stamp():
    """What the exports depend on: a change to any drops the cached files."""
    import timm
    import torchvision
    import transformers
    h = hashlib.sha256()
    for f in ("export_models.py", "export_check.py", "models.py"):
        with open(os.path.join(HERE, f), "rb") as fh:
            h.update(fh.read())
    versions = [torch.__version__, torchvision.__version__,
                transformers.__version__, timm.__version__, onnx.__version__]
    return " ".join(versions) + " " + h.hexdigest()[:16]


def first_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[0].strip() if lines else "(no message)"


def ppc_cause(stderr, path):
    """ppc's first error line without the 'error: FILE: ' it starts with."""
    line = first_line(stderr)
    for prefix in ("error: " + path + ": ", "error: "):
        if line.startswith(prefix):
            return line[len(prefix):]
    return line


def exception_cause(e):
    return f"{type(e).__name__}: {first_line(str(e))}"[:300]


# ---------------------------------------------------------------------------
# Exporting.

def _export(model, path, opset, file, training, dynamic):
    names = list(model.inputs)
    args = tuple(model.inputs.values())
    kw = {} if opset == "default" else {"opset_version": int(opset)}
    if path == "dynamo":
        if dynamic:
            batch = torch.export.Dim("batch")
            kw["dynamic_shapes"] = tuple({model.batch_axis: batch}
                                         for _ in names)
        if training:
            kw["optimize"] = False
        torch.onnx.export(model.module, args, file, dynamo=True,
                          input_names=names, output_names=["output"], **kw)
    else:
        axes = None
        if dynamic:
            axes = {n: {model.batch_axis: "batch"} for n in names}
            axes["output"] = {model.batch_axis: "batch"}
        extra = {}
        if training:
            # As models.export_train (train_check.py) under torch 1.13.
            extra = dict(do_constant_folding=False,
                         training=torch.onnx.TrainingMode.TRAINING)
        torch.onnx.export(model.module, args, file, dynamo=False,
                          input_names=names, output_names=["output"],
                          dynamic_axes=axes, **extra, **kw)


@contextlib.contextmanager
def _quiet():
    """The exporters' progress, warnings and graph dumps (some written by
    C++ to the file descriptors) out of the table's way."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
    try:
        with warnings.catch_warnings(), \
                contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _try_export(model, path, opset, file, training, dynamic):
    """None, or the exporter's failure as one line."""
    for f in (file, file + ".data"):
        if os.path.exists(f):
            os.remove(f)
    if training:
        model.module.train()
    try:
        with _quiet():
            _export(model, path, opset, file, training, dynamic)
        return None
    except Exception as e:  # the exporter's failure is the result
        return exception_cause(e)
    finally:
        model.module.eval()


def export(model, path, opset, file, training=False):
    """Exports into `file`: (None, notes) or (cause, notes). A dynamic batch
    axis where the exporter can; else a static one, noted."""
    dynamic = _try_export(model, path, opset, file, training, True)
    if dynamic is None:
        return None, []
    static = _try_export(model, path, opset, file, training, False)
    if static == dynamic:
        return static, []
    return static, [f"static batch: the dynamic export fails: {dynamic}"]


def describe(file):
    """(opset, notes) of an exported file: its ir_version, local functions,
    external data, and the ops whose definition is newer than PPC_OPSET."""
    m = onnx.load(file, load_external_data=False)
    opset = next((o.version for o in m.opset_import
                  if o.domain in ("", "ai.onnx")), 0)
    notes = [f"ir_version {m.ir_version}"]
    if m.functions:
        notes.append(f"{len(m.functions)} local functions (" + ", ".join(
            sorted({f.name for f in m.functions})[:6]) + ")")
    if any(t.data_location == onnx.TensorProto.EXTERNAL
           for t in m.graph.initializer):
        notes.append("external weights (" + os.path.basename(file) +
                     ".data)")
    if opset > PPC_OPSET:
        ops = {n.op_type for n in m.graph.node if n.domain in ("", "ai.onnx")}
        for f in m.functions:
            ops |= {n.op_type for n in f.node if n.domain in ("", "ai.onnx")}
        newer = []
        for op in sorted(ops):
            try:
                since = onnx.defs.get_schema(op, opset).since_version
            except onnx.defs.SchemaError:
                continue
            if since > PPC_OPSET:
                newer.append(f"{op}-{since}")
        if newer:
            notes.append(f"ops defined after opset {PPC_OPSET}: " +
                         " ".join(newer))
    return opset, notes


class Cache:
    """Exports kept in WORKDIR/exports between runs while stamp() holds."""

    def __init__(self, work):
        self.dir = os.path.join(work, "exports")
        self.index_path = os.path.join(self.dir, "index.json")
        now = stamp()
        try:
            with open(self.index_path) as f:
                self.index = json.load(f)
        except (OSError, ValueError):
            self.index = {}
        if self.index.get("stamp") != now:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.index = {"stamp": now, "files": {}}
        os.makedirs(self.dir, exist_ok=True)

    def file(self, key):
        return os.path.join(self.dir, key.replace("/", "-") + ".onnx")

    def drop(self, key):
        """Removes the export of `key` (keeping the disk small)."""
        for f in (self.file(key), self.file(key) + ".data"):
            if os.path.exists(f):
                os.remove(f)
        self.index["files"].pop(key, None)
        self._save()

    def _save(self):
        with open(self.index_path + ".tmp", "w") as f:
            json.dump(self.index, f, indent=1)
        os.replace(self.index_path + ".tmp", self.index_path)

    def get(self, key, make_model, path, opset, training):
        file = self.file(key)
        hit = self.index["files"].get(key)
        if hit is not None and (hit["cause"] or os.path.exists(file)):
            return file, hit["cause"], hit["notes"], 0.0
        start = time.time()
        cause, notes = export(make_model(), path, opset, file, training)
        seconds = time.time() - start
        self.index["files"][key] = {"cause": cause, "notes": notes}
        self._save()
        return file, cause, notes, seconds


# ---------------------------------------------------------------------------
# The checks of one case.

class Case:
    def __init__(self, model, path, opset):
        self.key = f"{model}/{path}/{opset}"
        self.model, self.path, self.opset = model, path, opset
        self.file_opset = None
        self.cells = {s: "-" for s in STEPS + ["train"]}
        self.failed = None          # (step, cause) of inference
        self.train_failed = None    # (step, cause) of training
        self.notes = []             # of the inference export
        self.train_notes = []       # of the training export
        self.seconds = 0.0

    def fail(self, step, cause, train=False):
        if train:
            self.train_failed = (step, cause)
            self.cells["train"] = f"FAIL({step})"
        else:
            self.failed = (step, cause)
            self.cells[step] = "FAIL"


def run_inference(case, file, model, batch_files, want, work, ppc, pprun):
    r = subprocess.run([ppc, file, f"-batch={export_models.MICROBATCH}"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        return case.fail("import", ppc_cause(r.stderr, file))
    case.cells["import"] = "ok"
    batch = export_models.MICROBATCH * MICROBATCHES
    outs = {}
    for stages in (1, STAGES):
        out = os.path.join(work, f"s{stages}")
        shutil.rmtree(out, ignore_errors=True)
        r = pipeline_run.compile_pipeline(ppc, file, out, stages, batch,
                                          MICROBATCHES)
        if r.returncode:
            return case.fail("compile", f"{stages} stages: " +
                             ppc_cause(r.stderr, file))
        outs[stages] = out
    case.cells["compile"] = "ok"
    got = {}
    for stages, out in outs.items():
        res = os.path.join(out, "result")
        try:
            r = pipeline_run.run_pipeline(pprun, out, batch_files, res)
        except subprocess.TimeoutExpired:
            return case.fail("run", f"{stages} stages: pprun timed out")
        if r.returncode:
            return case.fail("run", f"{stages} stages: " +
                             first_line(r.stderr))
        path = os.path.join(res, "output.npy")
        if not os.path.exists(path):
            return case.fail("run", f"{stages} stages: no output.npy")
        got[stages] = np.load(path)
    case.cells["run"] = "ok"
    errs = {}
    for stages, g in got.items():
        if g.shape != want.shape:
            return case.fail("match", f"{stages} stages: output shape "
                             f"{list(g.shape)}, PyTorch's {list(want.shape)}")
        errs[stages] = pipeline_run.max_rel_err(g, want)
    worst = max(errs.values())
    case.cells["match"] = f"{errs[1]:.0e}" if worst < TOLERANCE else "FAIL"
    if not worst < TOLERANCE:
        return case.fail("match", "max rel err " + ", ".join(
            f"{e:.1e} ({s} stages)" for s, e in errs.items()))
    if not np.array_equal(got[STAGES], got[1]):
        diff = float(np.abs(got[STAGES] - got[1]).max())
        return case.fail("bitwise", f"{STAGES} stages differ from 1 by up "
                         f"to {diff:.1e}")
    case.cells["bitwise"] = "ok"


def run_training(case, file, data, ref, work, ppc, pprun):
    out = os.path.join(work, "train")
    shutil.rmtree(out, ignore_errors=True)
    batch = export_models.MICROBATCH * MICROBATCHES
    r = subprocess.run([ppc, file, f"-batch={export_models.MICROBATCH}"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        return case.fail("import", ppc_cause(r.stderr, file), True)
    r = pipeline_run.compile_pipeline(ppc, file, out, STAGES, batch,
                                      MICROBATCHES, *TRAIN_FLAGS)
    if r.returncode:
        return case.fail("compile", ppc_cause(r.stderr, file), True)
    metrics = os.path.join(out, "metrics.jsonl")
    args = [pprun, out, "--steps", str(TRAIN_STEPS), "--metrics", metrics]
    for name, path in data.items():
        args += ["--data", f"{name}={path}"]
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return case.fail("run", "pprun timed out", True)
    if r.returncode:
        return case.fail("run", first_line(r.stderr), True)
    with open(metrics) as f:
        got = [json.loads(line)["loss"] for line in f]
    rel = [abs(a - b) / abs(b) for a, b in zip(got, ref)]
    if len(got) != len(ref) or not max(rel) <= TOLERANCE:
        worst = int(np.argmax(rel)) if rel else 0
        return case.fail("match", f"{len(got)} steps; worst relative loss "
                         f"error {max(rel or [float('inf')]):.1e} at step "
                         f"{worst + 1} ({got[worst]:.6g} vs PyTorch's "
                         f"{ref[worst]:.6g})", True)
    case.cells["train"] = f"{max(rel):.0e}"


def check_model(name, args, cache, ppc, pprun):
    """Every case of model `name`."""
    large = export_models.too_large(name)
    if large:
        print(f"{name}: left out, {large}M parameters", flush=True)
        return []
    work = os.path.join(args.work, "run", name)
    os.makedirs(work, exist_ok=True)
    model = export_models.make(name)
    initial = model.module.state_dict()
    state = type(initial)((k, v.clone()) for k, v in initial.items())
    # The modules' versions, which some loaders read (torchvision's MNASNet).
    state._metadata = getattr(initial, "_metadata", None)

    def fresh():
        model.module.load_state_dict(state)
        model.module.eval()
        return model

    g = torch.Generator().manual_seed(1)
    batch = model.batch(MICROBATCHES, g)
    batch_files = {}
    for n, t in batch.items():
        batch_files[n] = os.path.join(work, n + ".npy")
        np.save(batch_files[n], t.numpy())
    with torch.no_grad():
        want = model.module(*batch.values()).numpy()
        other = model.module(*model.batch(MICROBATCHES, g).values()).numpy()
    # Random weights can leave an output all but constant (GoogLeNet's
    # logits are its fc bias to 1e-5): then a match says little.
    spread = pipeline_run.max_rel_err(other, want)
    if spread < 1e-3:
        print(f"{name}: note: the output changes by only {spread:.0e} "
              "(relative) from one batch to another; its match says little",
              flush=True)
    train = args.train and name in export_models.TRAIN
    if train:
        (input_name, ex), = model.inputs.items()
        shape = (TRAIN_SAMPLES,) + tuple(ex.shape[1:])
        x = torch.randint(0, model.vocab, shape, generator=g)
        y = torch.randint(0, model.vocab, shape, generator=g)
        data = {input_name: os.path.join(work, "train.x.npy"),
                "labels": os.path.join(work, "train.y.npy")}
        np.save(data[input_name], x.numpy())
        np.save(data["labels"], y.numpy())
        model.module.train()
        ref, _ = train_ref.torch_curve(
            model.module, state, "sgd", TRAIN_STEPS, 0.05,
            export_models.MICROBATCH * MICROBATCHES, x, y, MICROBATCHES,
            momentum=0.9)
        fresh()
    cases = []
    for path in args.paths:
        for opset in args.opsets:
            case = Case(name, path, opset)
            start = time.time()
            file, cause, notes, _ = cache.get(case.key, fresh, path, opset,
                                              False)
            case.notes += notes
            if cause:
                case.fail("export", cause)
            else:
                case.cells["export"] = "ok"
                case.file_opset, more = describe(file)
                if opset != "default" and case.file_opset != int(opset):
                    more.insert(0, f"opset {opset} asked for, "
                                f"{case.file_opset} written")
                case.notes += more
                run_inference(case, file, model, batch_files, want, work,
                              ppc, pprun)
            if train:
                tfile, cause, notes, _ = cache.get(case.key + "/train", fresh,
                                                   path, opset, True)
                case.train_notes += notes
                if cause:
                    case.fail("export", cause, True)
                else:
                    case.train_notes += describe(tfile)[1]
                    run_training(case, tfile, data, ref, work, ppc, pprun)
            if not args.keep:
                for d in ("s1", f"s{STAGES}", "train"):
                    shutil.rmtree(os.path.join(work, d), ignore_errors=True)
                if args.no_cache:
                    cache.drop(case.key)
                    cache.drop(case.key + "/train")
            case.seconds = time.time() - start
            print(f"{case.key}: " + " ".join(
                f"{s}={case.cells[s]}" for s in STEPS +
                (["train"] if train else [])) + f" ({case.seconds:.0f} s)" +
                (f": {case.failed[0]}: {case.failed[1]}" if case.failed
                 else ""), flush=True)
            cases.append(case)
    return cases


# ---------------------------------------------------------------------------
# The expected failures and the report.

def load_xfail(path):
    """{case: (step, cause)} from lines 'CASE: STEP: cause'."""
    listed = {}
    if not os.path.exists(path):
        return listed
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, rest = line.partition(": ")
            step, _, cause = rest.partition(": ")
            listed[key.strip()] = (step.strip(), cause.strip())
    return listed


def results(cases):
    """{case: (step, cause) or None} of every case run."""
    out = {}
    for c in cases:
        out[c.key] = c.failed
        if c.cells["train"] != "-" or c.train_failed:
            out[c.key + "/train"] = c.train_failed
    return out


def print_table(cases):
    head = ["case", "opset"] + STEPS + ["train"]
    rows = [[c.key, str(c.file_opset or "-")] +
            [c.cells[s] for s in STEPS + ["train"]] for c in cases]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def write_xfail(path, got):
    with open(path, "w") as f:
        f.write("# Cases of test/e2e/export_check.py that fail, with the step "
                "and the cause.\n# Format: MODEL/PATH/OPSET[/train]: STEP: "
                "cause. A listed case that passes,\n# or fails at another "
                "step, fails the check: keep this true (--write-xfail\n"
                "# rewrites it from a run).\n")
        for key, fail in got.items():
            if fail:
                f.write(f"{key}: {fail[0]}: {fail[1]}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("pprun")
    ap.add_argument("work")
    ap.add_argument("--models", default="hf-timm,sequence",
                    help="comma-separated; 'hf-timm', 'sequence' and "
                         "'torchvision' name those groups")
    ap.add_argument("--paths", default=",".join(PATHS))
    ap.add_argument("--opsets", default=",".join(OPSETS))
    ap.add_argument("--no-train", dest="train", action="store_false")
    ap.add_argument("--keep", action="store_true",
                    help="keep the compiled pipelines in WORKDIR/run")
    ap.add_argument("--no-cache", action="store_true",
                    help="remove each export after its case (the torchvision "
                         "catalogue's would take many GB)")
    ap.add_argument("--xfail", default=os.path.join(HERE, "export_xfail.txt"))
    ap.add_argument("--no-xfail", action="store_true",
                    help="every failure counts (issue 16's acceptance)")
    ap.add_argument("--write-xfail")
    args = ap.parse_args()
    args.work = os.path.abspath(args.work)
    names = []
    for n in args.models.split(","):
        if n == "hf-timm":
            names += export_models.HF_TIMM
        elif n == "sequence":
            names += export_models.SEQUENCE
        elif n == "torchvision":
            names += export_models.torchvision_names()
        elif n:
            names.append(n)
    args.paths = args.paths.split(",")
    args.opsets = args.opsets.split(",")
    for p in args.paths:
        if p not in PATHS:
            ap.error(f"unknown path '{p}' (dynamo, torchscript)")
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, onnx {onnx.__version__}; "
          f"{len(names)} models x {len(args.paths)} paths x "
          f"{len(args.opsets)} opsets", flush=True)
    start = time.time()
    cache = Cache(args.work)
    cases = []
    for name in names:
        try:
            cases += check_model(name, args, cache, args.ppc, args.pprun)
        except Exception as e:  # a model the harness cannot build
            c = Case(name, "-", "-")
            c.fail("export", "building the model: " + exception_cause(e))
            print(f"{c.key}: {c.failed[1]}", flush=True)
            cases.append(c)
    got = results(cases)
    print()
    print_table(cases)
    print("\nCauses:")
    for c in cases:
        for fail, what, notes in ((c.failed, "", c.notes),
                                  (c.train_failed, "/train", c.train_notes)):
            if fail:
                print(f"  {c.key}{what}: {fail[0]}: {fail[1]}")
                if notes:
                    print(f"      ({'; '.join(notes)})")
    listed = {} if args.no_xfail else load_xfail(args.xfail)
    if args.write_xfail:
        write_xfail(args.write_xfail, got)
    unexpected = []
    for key, fail in got.items():
        if key in listed:
            if not fail:
                unexpected.append(f"XPASS {key} (listed: {listed[key][0]}: "
                                  f"{listed[key][1]})")
            elif fail[0] != listed[key][0]:
                unexpected.append(f"MOVED {key}: fails at {fail[0]} "
                                  f"({fail[1]}), listed at {listed[key][0]}")
        elif fail:
            unexpected.append(f"FAIL  {key}: {fail[0]}: {fail[1]}")
    known_models = export_models.HF_TIMM + export_models.SEQUENCE
    for key in listed:
        parts = key.split("/")
        if not (len(parts) in (3, 4) and parts[1] in PATHS and
                parts[2] in OPSETS and parts[3:] in ([], ["train"]) and
                (parts[0] in known_models or parts[0].startswith("tv-"))):
            unexpected.append(f"BAD   {key}: not MODEL/PATH/OPSET[/train] "
                              "of export_models.py")
            continue
        selected = (parts[0] in names and
                    parts[1] in args.paths and parts[2] in args.opsets and
                    (len(parts) == 3 or (parts[3] == "train" and args.train)))
        if selected and key not in got:
            unexpected.append(f"STALE {key}: listed, but no such case ran")
    print()
    for line in unexpected:
        print(line)
    passed = sum(1 for f in got.values() if not f)
    known = sum(1 for k, f in got.items() if f and k in listed)
    source = "" if args.no_xfail else f" ({os.path.basename(args.xfail)})"
    print(f"{len(got)} cases, {known} known failures{source}; "
          f"{time.time() - start:.0f} s")
    print(f"{passed} passed, {len(unexpected)} failed")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
