"""Timing and peak-RSS harness for scripts/bench.sh (system python3, stdlib only).

    python3 scripts/bench_run.py --tflq target/release/tflq \
        --model bench-out/resnet50.tflite --out-dir bench-out [--rounds 7] \
        [--aeq-python .venv-bench/bin/python --aeq-model bench-out/mobilenet_v2.tflite \
         --aeq-rounds 5]

Part 1, on --model: `tflq convert` round trip and with --quantize dynamic,
float16 and weight-int8, and `tflq dump`, against `cp` of the same file.
Part 2 (with --aeq-python): ai-edge-quantizer's dynamic_wi8_afp32 recipe,
whole process (`python scripts/bench_aeq.py IN OUT`: interpreter start,
import, quantize, export), against `tflq convert --quantize dynamic` on
--aeq-model, whole process too; the figure is AEQ time / tflq time. Both
outputs are loaded and run once in ai_edge_litert (outside the timing).
Part 3 (with --pb, --tf-python and --litert-python): `tflq convert` of a
frozen GraphDef against TF's from_frozen_graph on it (`python
scripts/bench_tf_frozen.py IN OUT INPUT OUTPUT SHAPE` with TensorFlow's
python, names and shape from the .json sidecar beside the .pb), whole
process each; the figures are TF time / tflq time and tflq's peak RSS /
the .pb size. Both outputs then run in ai_edge_litert on one random input
(--litert-python) and their largest relative difference is reported.

The machine is shared, so every figure is a ratio to a baseline measured in
the same run: wall times are medians over --rounds interleaved rounds,
divided by the median of `cp MODEL /tmp/...`; peak RSS is divided by the
model's file size. Each command runs once first as a warm-up, so all of them
see a warm page cache (dropping it needs privileges we do not assume).
Within a round the commands run in one order, and in the reverse order the
next round, so a slow spell on the machine does not land on one of them only.

Peak RSS comes from os.wait4 on the very child that ran the command (its own
ru_maxrss, not the max over all children as RUSAGE_CHILDREN would give).
ru_maxrss is a max, and the kernel starts it at the RSS of the forking
python, so a figure near the floor (the RSS of `true` under this harness,
printed too) says only "at most that"; figures above it are exact. RSS
includes the file pages that tflq maps (it reads models with mmap), which
are shared page cache rather than memory of its own.

For each `tflq convert --quantize` the median of the time tflq itself
reports on stderr ("... in N ms") is printed beside the wall time, which
tells the process start-up and exit (unmapping, page-cache writeback is not
waited for) apart from the work.

Prints a markdown report on stdout and writes it to --results too.
"""

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def run(argv):
    """Run argv with stdout to /dev/null; return (wall seconds, peak RSS bytes,
    stderr text).

    stderr goes to a scratch file (tflq convert reports on it) that is shown
    only if the command fails."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace"))
            sys.exit(f"bench_run.py: {' '.join(argv)} exited {proc.returncode}")
        err.seek(0)
        text = err.read().decode(errors="replace")
    return wall, usage.ru_maxrss * 1024, text  # ru_maxrss is in KiB on Linux


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_rev(repo):
    try:
        out = subprocess.run(
            ["git", "-C", repo, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def mb(n):
    return f"{n / 1e6:.1f} MB"


def ms(s):
    return f"{s * 1e3:.1f} ms"


QUANT_MODES = ("dynamic", "float16", "weight-int8")
# quantize mode -> (wall-time target as a ratio to cp, or None: information only)
QUANT_TARGET = {"dynamic": 3.0, "float16": 3.0, "weight-int8": None}
QUANT_AIM = 2.0
RSS_TARGET = 1.5
AEQ_TARGET = 10.0
PB_TARGET = 20.0
PB_RSS_TARGET = 2.0
TFLQ_MS = re.compile(r" in (\d+(?:\.\d+)?) ms\b")


def measure(cmds, rounds, label, parse=None):
    """Warm up each of cmds (name -> (argv, file to drop or None)) once, then
    run `rounds` interleaved rounds, order reversed every other round.
    Returns name -> list of (wall, peak RSS, stderr), or (wall, peak RSS,
    parse[name](stderr)) for the names in `parse`: it runs right after each run,
    so it can also read files that run wrote before the next run replaces them."""

    def once(name):
        argv, drop = cmds[name]
        if drop:
            remove(drop)
        wall, rss, err = run(argv)
        if parse and name in parse:
            return wall, rss, parse[name](err)
        return wall, rss, err

    for name in cmds:  # warm-up, not counted
        once(name)
    runs = {name: [] for name in cmds}
    order = list(cmds)
    for r in range(rounds):
        for name in order if r % 2 == 0 else reversed(order):
            runs[name].append(once(name))
        print(f"bench_run.py: {label} round {r + 1}/{rounds} done", file=sys.stderr)
    return runs


def litert_check(python, script, path):
    """Load and run `path` once in ai_edge_litert (with the AEQ venv's python);
    return the one-line summary or the error."""
    proc = subprocess.run(
        [python, script, "--load", path], capture_output=True, text=True
    )
    lines = [l for l in proc.stderr.splitlines() if l.startswith("bench_aeq.py:")]
    if proc.returncode != 0 or not lines:
        return f"**failed** (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    return lines[-1].split(": ", 1)[1]


def compare_check(python, script, ours, theirs):
    """Run both models in ai_edge_litert on one random input (bench_tf_frozen.py
    --compare); return the one-line summary or the error."""
    proc = subprocess.run(
        [python, script, "--compare", ours, theirs], capture_output=True, text=True
    )
    lines = [l for l in proc.stderr.splitlines() if l.startswith("bench_tf_frozen.py:")]
    if proc.returncode != 0 or not lines:
        return f"**failed** (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    return lines[-1].split(": ", 1)[1]


def machine_lines(here, tflq, load_before):
    """The report lines that say when, on what machine and with which tflq."""
    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- machine: nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), "
        f"CPU {cpu_model()}, {platform.system()} {platform.release()}",
        f"- load average (1/5/15 min) before / after: {load_before} / {loadavg()}",
        f"- tflq: {git_rev(here)} ({tflq})",
    ]


def table_lines(rows):
    """A markdown results table (metric, absolute, ratio, target, verdict)."""
    return ["", "| metric | absolute | ratio | target | |", "| --- | --- | --- | --- | --- |"] + [
        f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows
    ]


def verdict(value, limit, more_is_better=False):
    if more_is_better:
        return "ok" if value >= limit else "**under**"
    return "ok" if value <= limit else "**over**"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tflq", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--aeq-python", help="python of the venv with ai-edge-quantizer")
    ap.add_argument("--aeq-model", help="model for the AEQ comparison (MobileNetV2)")
    ap.add_argument("--aeq-rounds", type=int, help="rounds of part 2 (default: --rounds)")
    ap.add_argument("--pb", help="frozen GraphDef for part 3 (with a .json sidecar beside it)")
    ap.add_argument("--tf-python", help="python of the venv with TensorFlow (part 3)")
    ap.add_argument("--litert-python", help="python of a venv with ai_edge_litert (part 3)")
    ap.add_argument("--pb-rounds", type=int, default=3, help="rounds of part 3 (default 3)")
    ap.add_argument("--results", help="also write the report here")
    args = ap.parse_args()
    load_before = loadavg()
    here = os.path.dirname(os.path.abspath(__file__))
    aeq_script = os.path.join(here, "bench_aeq.py")

    model, tflq = args.model, args.tflq
    size = os.path.getsize(model)
    cp_dst = f"/tmp/tflq-bench-cp-{os.getpid()}.tflite"
    rt_dst = os.path.join(args.out_dir, "rt.tflite")
    q_dst = {m: os.path.join(args.out_dir, f"q-{m}.tflite") for m in QUANT_MODES}

    # Part 1. name -> (argv, file to drop before each run or None)
    cmds = {
        "cp": (["cp", model, cp_dst], cp_dst),
        "convert": ([tflq, "convert", model, "-o", rt_dst], rt_dst),
    }
    for m in QUANT_MODES:
        cmds[f"convert --quantize {m}"] = (
            [tflq, "convert", model, "-o", q_dst[m], "--quantize", m], q_dst[m]
        )
    cmds["dump"] = ([tflq, "dump", model], None)
    cmds["dump --json"] = ([tflq, "dump", "--json", model], None)

    try:
        _, floor_rss, _ = run(["true"])
        runs = measure(cmds, args.rounds, "part 1")
    finally:
        remove(cp_dst)
    walls = {n: [w for w, _, _ in v] for n, v in runs.items()}
    med = {n: statistics.median(v) for n, v in walls.items()}
    peak = {n: max(r for _, r, _ in v) for n, v in runs.items()}
    base = med["cp"]

    def self_ms(name, runs_of):
        got = [float(m.group(1)) for _, _, e in runs_of[name]
               for m in [TFLQ_MS.search(e)] if m]
        return statistics.median(got) / 1e3 if got else None

    rows = [("`cp` median wall time (baseline)", ms(base), "1.00x", "—", "")]
    names = ["convert"] + [f"convert --quantize {m}" for m in QUANT_MODES]
    names += ["dump", "dump --json"]
    for name in names:
        ratio = med[name] / base
        mode = name.rsplit(" ", 1)[1] if "--quantize" in name else None
        target = 2.0 if name == "convert" else QUANT_TARGET.get(mode)
        absolute = ms(med[name])
        if mode:
            own = self_ms(name, runs)
            if own is not None:
                absolute += f" (tflq's own: {ms(own)})"
        if target and mode:
            tgt = f"≤ {target:.1f}x cp (aim {QUANT_AIM:.0f}x)"
        elif target:
            tgt = f"≤ {target:.1f}x cp"
        else:
            tgt = "— (information)" if mode else "—"
        rows.append((
            f"`tflq {name}` median wall time",
            absolute,
            f"{ratio:.2f}x cp",
            tgt,
            verdict(ratio, target) if target else "",
        ))
    for name in names:
        ratio = peak[name] / size
        rows.append((
            f"`tflq {name}` peak RSS",
            mb(peak[name]),
            f"{ratio:.2f}x file",
            f"≤ {RSS_TARGET:.1f}x file",
            verdict(ratio, RSS_TARGET),
        ))
    spread = ", ".join(
        f"{name} {ms(min(v))}–{ms(max(v))}" for name, v in walls.items()
    )
    sizes = ", ".join(
        f"{m} {os.path.getsize(q_dst[m])} bytes ({os.path.getsize(q_dst[m]) / size:.3f}x)"
        for m in QUANT_MODES
    )

    # Part 2: ai-edge-quantizer against tflq, whole process, on MobileNetV2.
    aeq_lines = []
    if args.aeq_python:
        amodel = args.aeq_model or model
        asize = os.path.getsize(amodel)
        arounds = args.aeq_rounds or args.rounds
        aeq_dst = os.path.join(args.out_dir, "aeq-dynamic.tflite")
        tq_dst = os.path.join(args.out_dir, "aeq-tflq-dynamic.tflite")
        acmds = {
            "tflq": ([tflq, "convert", amodel, "-o", tq_dst, "--quantize", "dynamic"],
                     tq_dst),
            "aeq": ([args.aeq_python, aeq_script, amodel, aeq_dst], aeq_dst),
        }
        aruns = measure(acmds, arounds, "part 2 (AEQ)")
        awalls = {n: [w for w, _, _ in v] for n, v in aruns.items()}
        amed = {n: statistics.median(v) for n, v in awalls.items()}
        apeak = {n: max(r for _, r, _ in v) for n, v in aruns.items()}
        speedup = amed["aeq"] / amed["tflq"]
        own = self_ms("tflq", aruns)
        rows += [
            (f"`tflq convert --quantize dynamic` on {os.path.basename(amodel)}, "
             "median wall time (baseline)",
             ms(amed["tflq"]) + (f" (tflq's own: {ms(own)})" if own is not None else ""),
             "1.00x", "—", ""),
            (f"AEQ `dynamic_wi8_afp32` on {os.path.basename(amodel)}, whole process, "
             "median wall time",
             ms(amed["aeq"]), f"{speedup:.1f}x tflq",
             f"≥ {AEQ_TARGET:.0f}x tflq", verdict(speedup, AEQ_TARGET, True)),
            (f"`tflq convert --quantize dynamic` peak RSS on {os.path.basename(amodel)}",
             mb(apeak["tflq"]), f"{apeak['tflq'] / asize:.2f}x file", "—", ""),
            (f"AEQ peak RSS on {os.path.basename(amodel)}",
             mb(apeak["aeq"]), f"{apeak['aeq'] / asize:.2f}x file", "—", ""),
        ]
        aeq_ver = subprocess.run(
            [args.aeq_python, "-c",
             "import importlib.metadata as m; print(', '.join(p + ' ' + m.version(p) "
             "for p in ('ai-edge-quantizer', 'ai-edge-litert', 'numpy')))"],
            capture_output=True, text=True,
        ).stdout.strip()
        aspread = ", ".join(
            f"{name} {ms(min(v))}–{ms(max(v))}" for name, v in awalls.items()
        )
        aeq_lines = [
            "",
            f"Part 2: {amodel} ({asize} bytes), {aeq_ver}; 1 warm-up + {arounds} "
            f"interleaved rounds of `tflq convert --quantize dynamic` and "
            f"`{os.path.relpath(args.aeq_python)} scripts/bench_aeq.py IN OUT` "
            f"(interpreter start, import, quantize, export). Wall time range: {aspread}.",
            f"Output sizes: AEQ {os.path.getsize(aeq_dst)} bytes, tflq "
            f"{os.path.getsize(tq_dst)} bytes.",
            f"- AEQ output in ai_edge_litert: "
            f"{litert_check(args.aeq_python, aeq_script, aeq_dst)}",
            f"- tflq output in ai_edge_litert: "
            f"{litert_check(args.aeq_python, aeq_script, tq_dst)}",
        ]
        remove(aeq_dst)
        remove(tq_dst)
    for m in QUANT_MODES:
        remove(q_dst[m])

    # Part 3: tflq against TF's from_frozen_graph on a frozen GraphDef, whole process.
    pb_lines = []
    if args.pb:
        if not args.tf_python:
            sys.exit("bench_run.py: --pb needs --tf-python")
        import json

        with open(os.path.splitext(args.pb)[0] + ".json") as f:
            side = json.load(f)
        pb, psize = args.pb, os.path.getsize(args.pb)
        tf_script = os.path.join(here, "bench_tf_frozen.py")
        pb_dst = os.path.join(args.out_dir, "pb-tflq.tflite")
        tf_dst = os.path.join(args.out_dir, "pb-tf.tflite")
        shape = ",".join(str(d) for d in side["input_shapes"][0])
        pcmds = {
            "tflq": ([tflq, "convert", pb, "-o", pb_dst], pb_dst),
            "tf": ([args.tf_python, tf_script, pb, tf_dst, ",".join(side["inputs"]),
                    ",".join(side["outputs"]), shape], tf_dst),
        }
        pruns = measure(pcmds, args.pb_rounds, "part 3 (.pb)")
        pwalls = {n: [w for w, _, _ in v] for n, v in pruns.items()}
        pmed = {n: statistics.median(v) for n, v in pwalls.items()}
        ppeak = {n: max(r for _, r, _ in v) for n, v in pruns.items()}
        speedup = pmed["tf"] / pmed["tflq"]
        rss_ratio = ppeak["tflq"] / psize
        own = self_ms("tflq", pruns)
        base_name = os.path.basename(pb)
        rows += [
            (f"`tflq convert {base_name}`, median wall time (baseline)",
             ms(pmed["tflq"]) + (f" (tflq's own: {ms(own)})" if own is not None else ""),
             "1.00x", "—", ""),
            (f"TF `from_frozen_graph` on {base_name}, whole process, median wall time",
             ms(pmed["tf"]), f"{speedup:.1f}x tflq",
             f"≥ {PB_TARGET:.0f}x tflq", verdict(speedup, PB_TARGET, True)),
            (f"`tflq convert {base_name}` peak RSS",
             mb(ppeak["tflq"]), f"{rss_ratio:.2f}x .pb",
             f"≤ {PB_RSS_TARGET:.0f}x .pb", verdict(rss_ratio, PB_RSS_TARGET)),
            (f"TF `from_frozen_graph` peak RSS on {base_name}",
             mb(ppeak["tf"]), f"{ppeak['tf'] / psize:.2f}x .pb", "—", ""),
        ]
        tf_ver = subprocess.run(
            [args.tf_python, "-c",
             "import importlib.metadata as m; print(', '.join(p + ' ' + m.version(p) "
             "for p in ('tensorflow-cpu', 'numpy')))"],
            capture_output=True, text=True,
        ).stdout.strip() or "unknown"
        pspread = ", ".join(
            f"{name} {ms(min(v))}–{ms(max(v))}" for name, v in pwalls.items()
        )
        check = (compare_check(args.litert_python, tf_script, pb_dst, tf_dst)
                 if args.litert_python else "not run (no --litert-python)")
        pb_lines = [
            "",
            f"Part 3: {pb} ({psize} bytes), {tf_ver}; 1 warm-up + {args.pb_rounds} "
            f"interleaved rounds of `tflq convert IN -o OUT` and "
            f"`{os.path.relpath(args.tf_python)} scripts/bench_tf_frozen.py IN OUT "
            f"{','.join(side['inputs'])} {','.join(side['outputs'])} {shape}` "
            f"(interpreter start, import, from_frozen_graph, convert, write). "
            f"Wall time range: {pspread}.",
            f"Output sizes: tflq {os.path.getsize(pb_dst)} bytes, TF "
            f"{os.path.getsize(tf_dst)} bytes.",
            f"- tflq's output against TF's, one random input in ai_edge_litert: {check}",
        ]
        remove(pb_dst)
        remove(tf_dst)

    lines = [
        f"# tflq benchmark: {os.path.basename(model)}",
        "",
        *machine_lines(here, tflq, load_before),
        f"- model: {model}, {size} bytes ({mb(size)})",
        f"- method: 1 warm-up + {args.rounds} interleaved rounds (order reversed every "
        f"other round), warm page cache, median wall time of the whole process; "
        f"destination files dropped before each run; stdout to /dev/null",
    ]
    lines += table_lines(rows)
    lines += [
        "",
        f"Wall time range over the rounds: {spread}.",
        f"Quantized output sizes: {sizes}.",
        f"Peak RSS floor of the harness (`true`): {mb(floor_rss)}; RSS counts the "
        f"model's pages that tflq maps (mmap), which are shared page cache.",
        "\"tflq's own\" is the median of the time tflq prints on stderr (its work, "
        "without process start-up and exit).",
    ]
    lines += aeq_lines
    lines += pb_lines
    lines += [
        "",
        "Absolute figures vary with the load of the shared machine; compare the ratios.",
    ]
    report = "\n".join(lines) + "\n"
    sys.stdout.write(report)
    if args.results:
        with open(args.results, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
