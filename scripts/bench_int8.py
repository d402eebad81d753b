"""Full-int8 benchmark for scripts/bench_int8.sh: tflq vs LiteRT and ai-edge-quantizer.

Harness (system python3, stdlib only):

    python3 scripts/bench_int8.py --tflq target/release/tflq \
        --model bench-out/mobilenet_v2.tflite --samples bench-out/mnv2_calib32.npz \
        --litert-python .venv/bin/python --aeq-python .venv-bench/bin/python \
        --out-dir bench-out [--rounds 5] [--sqnr-samples 8] [--results FILE]

Helper modes, run by the harness with a python that has ai_edge_litert and numpy:

    python scripts/bench_int8.py litert MODEL SAMPLES.npz
        The timed baseline: load MODEL in ai_edge_litert's Interpreter
        (num_threads=1, default delegate), run every sample of SAMPLES.npz
        once (one invoke each), print the invoke times on stderr.
    python scripts/bench_int8.py sqnr FLOAT SAMPLES.npz N MODEL...
        Outside the timing: run FLOAT and each MODEL on the first N samples in
        ai_edge_litert and print, for each MODEL, one JSON line on stdout with
        the output SQNR against FLOAT (pooled over the N samples), the top-1
        agreement and how many of its tensors are int8.

Three commands are timed, whole process each (process start to exit):
  litert  `LITERT_PY bench_int8.py litert MODEL SAMPLES` (32 float inferences)
  tflq    `tflq convert MODEL -o OUT --quantize int8 --calibration-data SAMPLES
           --report R` (R gives tflq's own total and calibration time)
  aeq     `AEQ_PY bench_aeq_static.py MODEL OUT SAMPLES` (static_wi8_ai8)
The figures are tflq / litert (target at most 2x, aim 1x) and aeq / tflq
(target at least 10x), plus tflq's calibration time per sample against
LiteRT's per-invoke time (both without process start and model load).

The machine is shared, so every figure is a ratio of two medians measured in
the same run: 1 warm-up of each command, then --rounds interleaved rounds, the
order reversed every other round. Peak RSS comes from os.wait4 on the child
itself (ru_maxrss; the kernel starts it at the forking python's RSS, so a
figure near the floor printed with the report means "at most that").

Runs, interleaved rounds, machine facts, formatting and verdicts come from
scripts/bench_run.py; measure() here also parses each command's stderr (tflq's
--report timings, LiteRT's invoke times).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# Shared with the .tflite benchmark: machine facts, formatting and verdicts.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_run import loadavg, machine_lines, mb, measure as measure_runs, ms, remove, run, table_lines, verdict  # noqa: E402

LITERT_TAG = "bench_int8.py litert:"


# --------------------------------------------------------------------------
# Helper modes (numpy, ai_edge_litert)


def _inputs_from_npz(interp, npz):
    """Return, per input detail, the [N, ...] array of its samples from npz."""
    import numpy as np

    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    cols = []
    for d in interp.get_input_details():
        if d["name"] not in arrays:
            sys.exit(f"bench_int8.py: no samples for input {d['name']} in {npz}")
        arr = arrays[d["name"]]
        if arr.ndim == len(d["shape"]):  # sample axis = batch axis of 1
            arr = arr[:, None]
        cols.append((d, arr))
    return cols


def _set_sample(interp, cols, i):
    """Set sample i, quantizing it if the model's input is integer."""
    import numpy as np

    for d, arr in cols:
        x = arr[i]
        if np.issubdtype(d["dtype"], np.integer):
            scale, zp = d["quantization"]
            info = np.iinfo(d["dtype"])
            x = np.clip(np.round(x / scale) + zp, info.min, info.max)
        interp.set_tensor(d["index"], x.astype(d["dtype"]))


def _outputs(interp):
    """All outputs as float arrays (dequantized if integer)."""
    import numpy as np

    outs = []
    for d in interp.get_output_details():
        y = interp.get_tensor(d["index"])
        if np.issubdtype(y.dtype, np.integer):
            scale, zp = d["quantization"]
            y = (y.astype(np.float64) - zp) * scale
        outs.append(np.asarray(y, dtype=np.float64))
    return outs


def mode_litert(model, npz):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=model, num_threads=1)
    interp.allocate_tensors()
    cols = _inputs_from_npz(interp, npz)
    n = min(len(a) for _, a in cols)
    times = []
    for i in range(n):
        _set_sample(interp, cols, i)
        t = time.perf_counter()
        interp.invoke()
        times.append(time.perf_counter() - t)
        for d in interp.get_output_details():
            interp.get_tensor(d["index"])
    print(f"{LITERT_TAG} {json.dumps({'invokes': times})}", file=sys.stderr)


def _sqnr(pairs):
    """SQNR in dB of (reference, quantized) float array pairs, pooled."""
    import numpy as np

    sig = sum(float(np.sum(r * r)) for r, _ in pairs)
    noise = sum(float(np.sum((r - q) ** 2)) for r, q in pairs)
    if noise == 0:
        return float("inf")
    return float(10 * np.log10(sig / noise)) if sig > 0 else float("-inf")


def mode_sqnr(float_model, npz, n, models):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    def run_all(path):
        """Outputs and softmax inputs ("logits") of the first n samples, as
        floats; the default delegate, all tensors preserved so the logits
        can be read."""
        interp = Interpreter(model_path=path, num_threads=1,
                             experimental_preserve_all_tensors=True)
        interp.allocate_tensors()
        cols = _inputs_from_npz(interp, npz)
        details = {d["index"]: d for d in interp.get_tensor_details()}
        softmax_in = [op["inputs"][0] for op in interp._get_ops_details()
                      if op["op_name"] == "SOFTMAX"]
        outs, logits = [], []
        for i in range(min(n, min(len(a) for _, a in cols))):
            _set_sample(interp, cols, i)
            interp.invoke()
            outs.append(_outputs(interp))
            if softmax_in:
                d = details[softmax_in[-1]]
                y = interp.get_tensor(d["index"]).astype(np.float64)
                if d["dtype"] != np.float32:
                    scale, zp = d["quantization"]
                    y = (y - zp) * scale
                logits.append(y)
        int8 = sum(1 for d in details.values() if d["dtype"] == np.int8)
        return outs, logits, int8, len(details)

    def builtin_check(path):
        """Whether TFLite's own kernels (no XNNPACK) accept the model."""
        try:
            Interpreter(model_path=path, num_threads=1,
                        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                        ).allocate_tensors()
            return "ok"
        except Exception as e:
            return str(e).strip().splitlines()[-1][:200]

    ref, ref_logits, _, _ = run_all(float_model)
    for path in models:
        try:
            got, logits, int8, total = run_all(path)
        except Exception as e:  # report, do not stop the other models
            print(json.dumps({"model": path, "error": f"{type(e).__name__}: {e}"}))
            continue
        pairs = [(a, b) for r, q in zip(ref, got) for a, b in zip(r, q)]
        per_sample = [_sqnr(list(zip(r, q))) for r, q in zip(ref, got)]
        agree = sum(int(np.argmax(r[0]) == np.argmax(q[0])) for r, q in zip(ref, got))
        res = {
            "model": path,
            "samples": len(got),
            "sqnr_db": _sqnr(pairs),
            "sqnr_db_min": min(per_sample),
            "ref_out_range": [float(min(a.min() for r in ref for a in r)),
                              float(max(a.max() for r in ref for a in r))],
            "top1_agree": agree,
            "int8_tensors": int8,
            "tensors": total,
            "builtin_kernels": builtin_check(path),
        }
        if ref_logits and len(logits) == len(ref_logits):
            res["logits_sqnr_db"] = _sqnr(list(zip(ref_logits, logits)))
            res["logits_top1_agree"] = sum(
                int(np.argmax(r) == np.argmax(q)) for r, q in zip(ref_logits, logits))
        print(json.dumps(res))


# --------------------------------------------------------------------------
# Harness: runs and interleaved rounds come from scripts/bench_run.py.


def measure(cmds, rounds):
    """cmds: name -> (argv, file to drop before each run or None, parse(stderr)
    -> extra or None). 1 warm-up each, then `rounds` interleaved rounds with the
    order reversed every other round. Returns name -> [(wall, rss, extra)]."""
    # Parsed right after each run: tflq's report file is rewritten by the next one.
    parse = {name: p for name, (_, _, p) in cmds.items() if p}
    runs = measure_runs({name: (argv, drop) for name, (argv, drop, _) in cmds.items()}, rounds, "int8", parse)
    return {name: [(wall, rss, extra if name in parse else None) for wall, rss, extra in runs[name]] for name in cmds}


TFLQ_TARGET, TFLQ_AIM, AEQ_TARGET = 2.0, 1.0, 10.0


def parse_litert(err):
    lines = [l for l in err.splitlines() if l.startswith(LITERT_TAG)]
    if not lines:
        sys.exit(f"bench_int8.py: litert mode printed no timings:\n{err[-500:]}")
    return json.loads(lines[-1][len(LITERT_TAG):])["invokes"]


def harness(args):
    load_before = loadavg()
    here = os.path.dirname(os.path.abspath(__file__))
    me = os.path.abspath(__file__)
    model, npz, tflq = args.model, args.samples, args.tflq
    size = os.path.getsize(model)
    os.makedirs(args.out_dir, exist_ok=True)
    tq_dst = os.path.join(args.out_dir, "int8-tflq.tflite")
    aeq_dst = os.path.join(args.out_dir, "int8-aeq.tflite")
    report = os.path.join(args.out_dir, "int8-tflq-report.json")

    def parse_report(_err):
        with open(report) as f:
            rep = json.load(f)
        return rep["seconds"], rep["calibration"]["seconds"], rep["calibration"]["samples"]

    cmds = {
        "litert": ([args.litert_python, me, "litert", model, npz], None, parse_litert),
        "tflq": ([tflq, "convert", model, "-o", tq_dst, "--quantize", "int8",
                  "--calibration-data", npz, "--report", report], tq_dst, parse_report),
    }
    if args.aeq_python:
        cmds["aeq"] = ([args.aeq_python, os.path.join(here, "bench_aeq_static.py"),
                        model, aeq_dst, npz], aeq_dst, None)

    _, floor_rss, _ = run(["true"])
    runs = measure(cmds, args.rounds)
    walls = {n: [w for w, _, _ in v] for n, v in runs.items()}
    med = {n: statistics.median(v) for n, v in walls.items()}
    peak = {n: max(r for _, r, _ in v) for n, v in runs.items()}

    invokes = [inv for _, _, inv in runs["litert"]]  # one list of times per run
    n_samples = len(invokes[0])
    lit_per_invoke = statistics.median(statistics.mean(v) for v in invokes)
    lit_invoke_total = statistics.median(sum(v) for v in invokes)
    lit_median_invoke = statistics.median(x for v in invokes for x in v)
    tq_own = statistics.median(e[0] for _, _, e in runs["tflq"])
    tq_cal = statistics.median(e[1] for _, _, e in runs["tflq"])
    tq_cal_n = runs["tflq"][0][2][2]
    tq_per_sample = statistics.median(e[1] / e[2] for _, _, e in runs["tflq"])

    ratio_a = med["tflq"] / med["litert"]
    ratio_cal = tq_per_sample / lit_per_invoke
    base = os.path.basename(model)
    rows = [
        (f"LiteRT float, {n_samples} invokes, 1 thread, whole process (baseline A)",
         ms(med["litert"]) + f" (invokes: {ms(lit_invoke_total)})", "1.00x", "—", ""),
        (f"`tflq convert --quantize int8`, {tq_cal_n} samples, whole process",
         ms(med["tflq"]) + f" (tflq's own: {ms(tq_own)}; calibration {ms(tq_cal)})",
         f"{ratio_a:.2f}x LiteRT",
         f"≤ {TFLQ_TARGET:.0f}x LiteRT (aim {TFLQ_AIM:.0f}x)",
         verdict(ratio_a, TFLQ_TARGET)),
        ("tflq calibration per sample vs LiteRT per invoke (no start-up, no load)",
         f"{ms(tq_per_sample)} vs {ms(lit_per_invoke)}",
         f"{ratio_cal:.2f}x LiteRT", "— (information)", ""),
    ]
    if "aeq" in cmds:
        ratio_b = med["aeq"] / med["tflq"]
        rows.append((
            f"AEQ `static_wi8_ai8`, {tq_cal_n} samples, whole process",
            ms(med["aeq"]), f"{ratio_b:.2f}x tflq",
            f"≥ {AEQ_TARGET:.0f}x tflq", verdict(ratio_b, AEQ_TARGET, True)))
    for name, label in (("litert", "LiteRT float run"), ("tflq", "`tflq convert --quantize int8`"),
                        ("aeq", "AEQ `static_wi8_ai8`")):
        if name in peak:
            rows.append((f"{label} peak RSS", mb(peak[name]),
                         f"{peak[name] / size:.2f}x file", "— (information)", ""))

    # Outside the timing: both outputs in ai_edge_litert, SQNR against float.
    check = [tq_dst] + ([aeq_dst] if "aeq" in cmds else [])
    proc = subprocess.run(
        [args.litert_python, me, "sqnr", model, npz, str(args.sqnr_samples)] + check,
        capture_output=True, text=True,
    )
    results = {}
    for line in proc.stdout.splitlines():
        try:
            d = json.loads(line)
            results[d["model"]] = d
        except (ValueError, KeyError):
            pass
    sqnr_lines = []
    for path, label in zip(check, ["tflq int8", "AEQ static_wi8_ai8"]):
        d = results.get(path)
        if d is None:
            rows.append((f"{label} output SQNR vs float", "**failed**", "", "", ""))
            sqnr_lines.append(f"- {label}: **failed** (exit {proc.returncode}): "
                              f"{proc.stderr.strip()[-300:]}")
        elif "error" in d:
            rows.append((f"{label} output SQNR vs float", "**failed**", "", "", ""))
            sqnr_lines.append(f"- {label}: **failed to load/run**: {d['error']}")
        else:
            rows.append((f"{label} output SQNR vs float, {d['samples']} samples",
                         f"{d['sqnr_db']:.1f} dB (worst sample {d['sqnr_db_min']:.1f} dB)",
                         "", "— (information)", ""))
            if "logits_sqnr_db" in d:
                rows.append((f"{label} SQNR of the softmax input (logits) vs float",
                             f"{d['logits_sqnr_db']:.1f} dB", "", "— (information)", ""))
            lo, hi = d["ref_out_range"]
            sqnr_lines.append(
                f"- {label} ({os.path.getsize(path)} bytes): loads and runs in "
                f"ai_edge_litert (default delegate); {d['int8_tensors']} of {d['tensors']} "
                f"tensors int8; float output range {lo:.4g}..{hi:.4g}; top-1 of the "
                f"output agrees with float on {d['top1_agree']}/{d['samples']}"
                + (f", of the logits on {d['logits_top1_agree']}/{d['samples']}"
                   if "logits_top1_agree" in d else "")
                + f"; TFLite's builtin kernels without XNNPACK: {d['builtin_kernels']}")
    flat = [d for d in results.values() if "ref_out_range" in d]
    if flat and flat[0]["ref_out_range"][0] == flat[0]["ref_out_range"][1]:
        sqnr_lines.append(
            "- The float model's output is constant on these samples (a random-weight "
            "model whose logits collapse towards 0, so the softmax is uniform): an "
            "int8 softmax output (scale 1/256) rounds it to 0, whence 0 dB and a "
            "trivial top-1 for both; the logits (the SOFTMAX input, read with "
            "experimental_preserve_all_tensors and dequantized) are the meaningful "
            "comparison.")
    both = [results.get(p) for p in check]
    if len(check) == 2 and all(d and "sqnr_db" in d for d in both):
        for key, what in (("sqnr_db", "output"), ("logits_sqnr_db", "logits")):
            if all(key in d for d in both):
                rows.append((f"SQNR ({what}): tflq minus AEQ",
                             f"{both[0][key] - both[1][key]:+.1f} dB", "", "— (information)", ""))

    vers = subprocess.run(
        [args.aeq_python or args.litert_python, "-c",
         "import importlib.metadata as m; print(', '.join(p + ' ' + m.version(p) for p in "
         + repr(("ai-edge-quantizer", "ai-edge-litert", "numpy") if args.aeq_python
                else ("ai-edge-litert", "numpy")) + "))"],
        capture_output=True, text=True).stdout.strip()
    lit_ver = subprocess.run(
        [args.litert_python, "-c",
         "import importlib.metadata as m; print('ai-edge-litert ' + m.version('ai-edge-litert'))"],
        capture_output=True, text=True).stdout.strip()
    spread = ", ".join(f"{n} {ms(min(v))}–{ms(max(v))}" for n, v in walls.items())

    lines = [
        f"# tflq int8 benchmark: {base}, {tq_cal_n} calibration samples",
        "",
        *machine_lines(here, tflq, load_before),
        f"- model: {model}, {size} bytes; samples: {npz}",
        f"- LiteRT baseline: {os.path.relpath(args.litert_python)} ({lit_ver}); "
        f"AEQ: {os.path.relpath(args.aeq_python) if args.aeq_python else 'not run'}"
        f"{' (' + vers + ')' if args.aeq_python else ''}",
        f"- method: 1 warm-up + {args.rounds} interleaved rounds (order reversed every "
        f"other round), warm page cache, median wall time of the whole process; "
        f"outputs dropped before each run",
    ]
    lines += table_lines(rows)
    lines += [
        "",
        f"Wall time range over the rounds: {spread}.",
        f"LiteRT: median single invoke {ms(lit_median_invoke)}; its per-invoke figure "
        f"above is the mean of the {n_samples} invokes of a run (the first included), "
        f"median over the rounds. tflq's per-sample figure is `calibration.seconds` "
        f"of `--report` / {tq_cal_n}; tflq calibrates samples in parallel on the "
        f"usable cores, LiteRT runs one thread.",
        f"AEQ calibrates with its defaults (XNNPACK, calibrate's num_threads=16).",
        f"Peak RSS floor of the harness (`true`): {mb(floor_rss)}.",
        "",
        f"Outputs checked outside the timing, first {args.sqnr_samples} samples, "
        f"SQNR = 10·log10(Σ float² / Σ (float − quantized)²) over the outputs:",
    ]
    lines += sqnr_lines
    lines += ["", "Absolute figures vary with the load of the shared machine; compare the ratios."]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.results:
        with open(args.results, "w") as f:
            f.write(text)
    for p in (tq_dst, aeq_dst, report):
        remove(p)


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["litert"]:
        if len(argv) != 3:
            sys.exit("usage: bench_int8.py litert MODEL SAMPLES.npz")
        return mode_litert(argv[1], argv[2])
    if argv[:1] == ["sqnr"]:
        if len(argv) < 5:
            sys.exit("usage: bench_int8.py sqnr FLOAT SAMPLES.npz N MODEL...")
        return mode_sqnr(argv[1], argv[2], int(argv[3]), argv[4:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tflq", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--samples", required=True, help=".npz of calibration samples")
    ap.add_argument("--litert-python", required=True,
                    help="python with ai_edge_litert and numpy (the LiteRT baseline)")
    ap.add_argument("--aeq-python", help="python of the venv with ai-edge-quantizer")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sqnr-samples", type=int, default=8)
    ap.add_argument("--results", help="also write the report here")
    harness(ap.parse_args(argv))


if __name__ == "__main__":
    main()
