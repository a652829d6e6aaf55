#!/usr/bin/env python3
"""Runs the node tests of the current onnx package (PyPI, in build/venv;
run by another python, this runs itself again by the venv's, found as
test/e2e/ort_venv.py finds it) through `ppc -stages=1` and `pprun`, at
every opset ppc takes (7 to 23), and compares the outputs with the tests'
own at ONNX's tolerances, as onnx_node_run.py does for Debian's
libonnx-testdata (whose functions this reuses). ppc's output shapes are
also checked against the current onnx's shape inference.

The onnx wheel ships no node test data but the code that makes it: the
data is written under --work (again when the onnx version changes).

What runs, per node test whose ops ppc imports:
  - the test at its own opset, where that is 7 to 23;
  - a test written for an opset past 23 (or below 7) at 23 (or 7), where it
    holds there: every attribute it sets exists at that opset and the
    current onnx checker (full check) accepts it; else it is counted as
    needing an opset ppc does not take;
  - and, as NAME@23, at opset 23 too, where every op of the test has the
    same schema at 23 as at its own opset (this runs libonnx 1.12's checker
    and inference past what they know, with ppc's KnownSchemas).
Failures must be listed in current_xfail.txt with their cause; a listed
test that passes is an error too.

usage: onnx_node_current.py PPC PPRUN --work DIR [--jobs N] [--verbose]
"""
import argparse
import collections
import concurrent.futures
import copy
import json
import os
import re
import shutil
import sys
import threading
import types
import warnings

import onnx
from onnx import defs, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from onnx_node_import import (EXTRA_OPS, ISSUE_OPS, frozen_inputs,  # noqa: E402
                              load_xfail, test_ops)
from onnx_node_run import run_one  # noqa: E402

MIN_OPSET, MAX_OPSET = 7, 23
DEFAULT_DOMAINS = ("", "ai.onnx")


def generate(work):
    """Writes every node test of the installed onnx under work/node (the
    layout of libonnx-testdata): model.onnx and test_data_set_0. onnx's
    generate-data writes only its model tests now; its writer is given the
    node test cases, as it was in earlier releases."""
    stamp = os.path.join(work, "onnx-version")
    node_dir = os.path.join(work, "node")
    try:
        with open(stamp) as f:
            if f.read() == onnx.__version__ and os.path.isdir(node_dir):
                return node_dir
    except OSError:
        pass
    from onnx.backend.test import cmd_tools
    from onnx.backend.test.case import node
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cmd_tools_cases = cmd_tools.model_test
    cmd_tools.model_test = types.SimpleNamespace(
        collect_testcases=node.collect_testcases)
    try:
        # The test cases compute their expected outputs with numpy, some
        # through overflows and divisions by zero on purpose.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmd_tools.generate_data(types.SimpleNamespace(output=work))
    finally:
        cmd_tools.model_test = cmd_tools_cases
    with open(stamp, "w") as f:
        f.write(onnx.__version__)
    return node_dir


def default_opset(model):
    versions = [o.version for o in model.opset_import
                if o.domain in DEFAULT_DOMAINS]
    return versions[0] if versions else None


def schema(op, opset):
    try:
        return defs.get_schema(op, opset, "")
    except Exception:  # onnx raises SchemaError, not exported everywhere
        return None


def restamped(model, opset):
    """The model at another default-domain opset, or None where it does not
    hold there: an op missing, an attribute the op does not have at that
    opset, or the current checker's full check refusing it."""
    for node in model.graph.node:
        s = schema(node.op_type, opset)
        if s is None or any(a.name not in s.attributes
                            for a in node.attribute):
            return None
    m = copy.deepcopy(model)
    for o in m.opset_import:
        if o.domain in DEFAULT_DOMAINS:
            o.version = opset
    m.ir_version = onnx.helper.find_min_ir_version_for(list(m.opset_import))
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception:
        return None
    return m


def same_schemas(model, opset):
    """True when every op of the model has the same schema at `opset` as at
    the model's own opset (no change in between, not even of types)."""
    own = default_opset(model)
    for node in model.graph.node:
        a, b = schema(node.op_type, own), schema(node.op_type, opset)
        if a is None or b is None or a.since_version != b.since_version:
            return False
    return True


def write_variant(root, name, model, data):
    """A test directory holding `model` and the data of test `data`."""
    path = os.path.join(root, name)
    os.makedirs(path, exist_ok=True)
    onnx.save(model, os.path.join(path, "model.onnx"))
    link = os.path.join(path, "test_data_set_0")
    if not os.path.lexists(link):
        os.symlink(os.path.join(data, "test_data_set_0"), link)


# The element types ppc has (onnx.TensorProto's numbers): not strings,
# complex numbers, nor the float8, int4 and float4 types of IR 9 to 11.
PPC_TYPES = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16}


def by_design(model):
    """True when the model has a graph input, output or initializer of an
    element type ppc does not have (float8, int4, float4, strings...): ppc
    refuses those by design (docs/importer.md), and such tests are counted
    apart. Zero-size tensors are not: ppc takes them."""
    for vi in list(model.graph.input) + list(model.graph.output):
        t = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if t is None or t.elem_type not in PPC_TYPES:
            return True
    return any(t.data_type not in PPC_TYPES
               for t in model.graph.initializer)


def plan(node_dir, variants_dir, supported):
    """(runs, excluded, moved): runs are (name, test directory root, opset,
    refused by design); excluded counts the tests left out, by reason;
    moved, those run at another opset than their own."""
    runs, excluded, moved = [], collections.Counter(), 0
    for name in sorted(os.listdir(node_dir)):
        path = os.path.join(node_dir, name, "model.onnx")
        if not os.path.exists(path):
            continue
        model = onnx.load(path)
        ops = test_ops(model)
        if not ops or not ops <= supported or any(
                n.domain not in DEFAULT_DOMAINS for n in model.graph.node):
            excluded["an op ppc does not import"] += 1
            continue
        opset = default_opset(model)
        design = by_design(model)
        if MIN_OPSET <= opset <= MAX_OPSET:
            runs.append((name, node_dir, opset, design))
        else:
            target = MAX_OPSET if opset > MAX_OPSET else MIN_OPSET
            m = restamped(model, target)
            if m is None:
                excluded[f"needs opset {opset} (> {MAX_OPSET})"
                         if opset > MAX_OPSET else
                         f"opset {opset}, which does not hold at "
                         f"{MIN_OPSET}"] += 1
                continue
            write_variant(variants_dir, name, m, os.path.join(node_dir, name))
            runs.append((name, variants_dir, target, design))
            moved += 1
            continue
        if opset < MAX_OPSET and same_schemas(model, MAX_OPSET):
            m = restamped(model, MAX_OPSET)
            if m is not None:
                variant = f"{name}@{MAX_OPSET}"
                write_variant(variants_dir, variant, m,
                              os.path.join(node_dir, name))
                runs.append((variant, variants_dir, MAX_OPSET, design))
    return runs, excluded, moved


def onnx_output_shapes(test):
    """{output: shape} by the current onnx's shape inference, with the
    inputs ppc freezes (-bind) as initializers and the declared output
    shapes removed; a shape holds None for a dimension it leaves symbolic.
    Raises on an inference error."""
    model = onnx.load(os.path.join(test, "model.onnx"))
    frozen = dict(frozen_inputs(model))
    for idx, name in frozen.items():
        t = onnx.TensorProto()
        with open(os.path.join(test, "test_data_set_0",
                               f"input_{idx}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        t.name = name
        model.graph.initializer.append(t)
    keep = [i for i in model.graph.input if i.name not in frozen.values()]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    for o in model.graph.output:
        if o.type.HasField("tensor_type"):
            o.type.tensor_type.ClearField("shape")
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True,
                                                 data_prop=True)
    shapes = {}
    for o in inferred.graph.output:
        t = o.type.tensor_type
        if t.HasField("shape"):
            shapes[o.name] = [d.dim_value if d.HasField("dim_value") else None
                              for d in t.shape.dim]
    return shapes


class ShapeCheck:
    """Compares ppc's output shapes (pipeline.json) with onnx's."""

    def __init__(self):
        self.counts = collections.Counter()
        self.lock = threading.Lock()

    def __call__(self, test, out):
        verdict = self.compare(test, out)
        with self.lock:
            self.counts[verdict[0]] += 1
        return verdict[1]

    def compare(self, test, out):
        """(what, failure message or "")."""
        try:
            theirs = onnx_output_shapes(test)
        except Exception:  # onnx's InferenceError and others
            return "onnx inference failed", ""
        with open(os.path.join(out, "pipeline.json")) as f:
            stage = json.load(f)["stages"][-1]
        ours = {o["name"]: o["shape"] for o in stage["outputs"]}
        what = "agree"
        for name, shape in theirs.items():
            if name not in ours:
                continue
            if len(shape) != len(ours[name]) or any(
                    d is not None and d != e
                    for d, e in zip(shape, ours[name])):
                return "differ", (f"shape: output {name} is {ours[name]} in "
                                  f"ppc, {shape} by onnx {onnx.__version__}")
            if None in shape:
                what = "agree where onnx is static"
        if not theirs:
            what = "onnx infers no output shape"
        return what, ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppc")
    ap.add_argument("pprun")
    ap.add_argument("--work", required=True,
                    help="folder for the generated test data")
    ap.add_argument("--xfail", default=os.path.join(HERE, "current_xfail.txt"))
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--only", metavar="REGEX",
                    help="run only the tests whose name matches (a search; "
                    "the figures are then of those alone, and the list's "
                    "other entries are not reported stale)")
    args = ap.parse_args()

    node_dir = generate(os.path.abspath(args.work))
    variants_dir = os.path.join(os.path.abspath(args.work), "variants")
    shutil.rmtree(variants_dir, ignore_errors=True)
    supported = ISSUE_OPS | EXTRA_OPS
    runs, excluded, moved = plan(node_dir, variants_dir, supported)
    xfail = load_xfail(args.xfail)
    if args.only:
        only = re.compile(args.only)
        runs = [r for r in runs if only.search(r[0])]
        xfail = {n: why for n, why in xfail.items() if only.search(n)}
    check = ShapeCheck()

    def one(run):
        name, root, _, _ = run
        return run_one(args.ppc, args.pprun, root, name,
                       check=lambda out: check(os.path.join(root, name), out))

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one, runs))

    by_opset = {}  # opset -> [passed, run]
    # [passed, run] of the tests at their own opsets (restamped into range
    # where needed), of those without what ppc refuses by design, and of
    # the NAME@23 reruns.
    figures = {"own": [0, 0], "own, no by-design refusal": [0, 0],
               "again at 23": [0, 0]}
    unexpected = []
    for (name, _, opset, design), (ok, message) in zip(runs, results):
        o = by_opset.setdefault(opset, [0, 0])
        o[0] += ok
        o[1] += 1
        keys = (["again at 23"] if name.endswith(f"@{MAX_OPSET}") else
                ["own"] + ([] if design else ["own, no by-design refusal"]))
        for k in keys:
            figures[k][0] += ok
            figures[k][1] += 1
        if ok and name in xfail:
            unexpected.append(f"XPASS {name} (listed: {xfail[name]})")
        elif not ok and name not in xfail:
            unexpected.append(f"FAIL  {name}: {message}")
        elif args.verbose:
            print(("PASS  " if ok else "XFAIL ") + name +
                  ("" if ok else ": " + message))
    names = {r[0] for r in runs}
    for name in sorted(set(xfail) - names):
        unexpected.append(f"STALE {name} is listed but not run")
    for line in unexpected:
        print(line)
    print(f"onnx {onnx.__version__} node tests, by opset: passed/run")
    for opset, (p, t) in sorted(by_opset.items()):
        print(f"  {opset}: {p}/{t}")
    print("left out: " + (", ".join(f"{n} {why}" for why, n in
                                    sorted(excluded.items())) or "none"))
    print("output shapes against onnx shape inference: " + ", ".join(
        f"{n} {what}" for what, n in sorted(check.counts.items())))
    beyond = sum(n for why, n in excluded.items() if why.startswith("needs"))
    p, t = figures["own"]
    print(f"in scope (ops ppc imports, opset {MIN_OPSET} to {MAX_OPSET}): "
          f"{p} of {t} pass ({100.0 * p / max(t, 1):.1f}%); excluded: "
          f"{beyond} that need an opset past {MAX_OPSET}, "
          f"{excluded['an op ppc does not import']} with an op ppc does not "
          f"import; {moved} run at {MAX_OPSET} or {MIN_OPSET}, not their own "
          "opset")
    p, t = figures["own, no by-design refusal"]
    print(f"  of them without an element type ppc lacks: {p} of {t} pass "
          f"({100.0 * p / max(t, 1):.1f}%)")
    p, t = figures["again at 23"]
    print(f"again at opset {MAX_OPSET} (NAME@{MAX_OPSET}): {p} of {t} pass")
    passed = sum(ok for ok, _ in results)
    print(f"{passed} passed, {len(unexpected)} failed")
    return 1 if unexpected else 0


def venv_python():
    """The venv's interpreter when this one is another, else None."""
    sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
    import ort_venv
    try:
        py = ort_venv.python()
    except RuntimeError as e:
        print(e)
        sys.exit(1)
    if os.path.realpath(sys.prefix) == os.path.realpath(ort_venv.VENV):
        return None
    return py


if __name__ == "__main__":
    py = venv_python()
    if py:
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit(main())
