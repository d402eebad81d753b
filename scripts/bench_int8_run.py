"""Integer interpreter speed for scripts/bench_int8_run.sh: tflq's per-sample time on an int8
model against LiteRT's invoke time, one thread each, measured in the same run; and a
byte-for-byte check of every tensor tflq computes against LiteRT's built-in kernels.

Run with the python of .venv (numpy and ai_edge_litert):

    .venv/bin/python scripts/bench_int8_run.py --tflq target/release/tflq \
        --model bench-out/mnv2.int8.tflite --samples bench-out/mnv2_calib32.npz \
        --out-dir bench-out [--rounds 5] [--invokes 20] [--batch 8] [--check-samples 2] \
        [--results FILE]

Timed, in --rounds interleaved rounds (the order reversed every other round):
  xnnpack  LiteRT's default resolver (XNNPACK delegate), num_threads=1: the median of
           --invokes invokes after 3 warm-up invokes, cycling over the samples
  builtin  LiteRT with BUILTIN_WITHOUT_DEFAULT_DELEGATES (its own optimized kernels, the
           ones tflq matches byte for byte), num_threads=1, the same way
  tflq     `tflq run MODEL --threads 1 --input S.npz`, whole process, on 1 sample and on
           1 + --batch samples: the difference divided by --batch is the time per sample
           without process start, model load and preparation (a tflq without --threads is
           run with RAYON_NUM_THREADS=1 instead)
Each is measured as wall time and as CPU time (LiteRT: the calling thread's, where one-thread
LiteRT computes; tflq: the process's user + system time from os.wait4); each figure is the
median over the rounds, and the ratios tflq/xnnpack (target at most 2x) and tflq/builtin are
ratios of those medians. The machine may be shared: only ratios from one run mean anything,
and under load the CPU-time ratios are the steadier.

The check: a copy of MODEL whose outputs are every tensor an operator writes runs on the
first --check-samples samples in LiteRT builtin and in `tflq run -o`; tflq writes quantized
outputs dequantized to float32 as f32((q - z) * s) in double, so LiteRT's integers are
dequantized the same way and the bytes compared (the map is one-to-one, so equal bytes mean
equal integers). Any difference fails the run (exit 1) after the report.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_run import loadavg, machine_lines, verdict  # noqa: E402

XNNPACK_TARGET = 2.0
WARMUP = 3


def load_samples(path):
    with np.load(path) as z:
        if len(z.files) != 1:
            sys.exit(f"bench_int8_run.py: {path} holds {len(z.files)} arrays; one input expected")
        name = z.files[0]
        return name, z[name]


def litert(model, resolver):
    kind = {"xnnpack": OpResolverType.AUTO, "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}[resolver]
    interp = Interpreter(model_path=model, num_threads=1, experimental_op_resolver_type=kind)
    interp.allocate_tensors()
    return interp


def set_input(interp, x):
    d = interp.get_input_details()[0]
    if np.issubdtype(d["dtype"], np.integer):
        scale, zp = d["quantization"]
        info = np.iinfo(d["dtype"])
        x = np.clip(np.round(x / scale) + zp, info.min, info.max)
    interp.set_tensor(d["index"], x.astype(d["dtype"]))


def time_litert(interp, xs, invokes):
    """(wall, CPU) medians over `invokes` invokes after WARMUP ones, cycling over the samples.
    With one thread LiteRT computes on the calling thread, so its thread CPU time is the work."""
    walls, cpus = [], []
    for i in range(WARMUP + invokes):
        set_input(interp, xs[i % len(xs)][None])
        t, c = time.perf_counter(), time.thread_time()
        interp.invoke()
        if i >= WARMUP:
            cpus.append(time.thread_time() - c)
            walls.append(time.perf_counter() - t)
    return statistics.median(walls), statistics.median(cpus)


def timed(argv, env):
    """(wall, CPU = user + system) seconds of one process, its own rusage (os.wait4)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace"))
            sys.exit(f"bench_int8_run.py: {' '.join(argv)} failed")
    return took, usage.ru_utime + usage.ru_stime


def tflq_argv(tflq):
    """How to run tflq on one thread: --threads 1, or RAYON_NUM_THREADS=1 for a tflq without it."""
    help_text = subprocess.run([tflq, "run", "--help"], capture_output=True, text=True).stdout
    env = dict(os.environ)
    if "--threads" in help_text:
        return ["--threads", "1"], env, "--threads 1"
    env["RAYON_NUM_THREADS"] = "1"
    return [], env, "RAYON_NUM_THREADS=1 (this tflq has no --threads)"


def probe_model(model, out_path):
    """A copy of `model` whose subgraph 0 outputs every tensor an operator writes."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    with open(model, "rb") as f:
        buf = bytearray(f.read())
    m = schema.ModelT.InitFromPackedBuf(buf, 0)
    sg = m.subgraphs[0]
    outs = list(sg.outputs)
    for op in sg.operators:
        for t in op.outputs if op.outputs is not None else []:
            if t >= 0 and t not in outs:
                outs.append(int(t))
    sg.outputs = outs
    b = flatbuffers.Builder(len(buf) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with open(out_path, "wb") as f:
        f.write(b.Output())
    return len(outs)


def as_tflq_writes(d, y):
    """LiteRT's output as `tflq run -o` writes it: quantized integers dequantized in double, then f32."""
    scale, zp = d["quantization"]
    if np.issubdtype(y.dtype, np.integer) and scale != 0:
        return ((y.astype(np.int64) - zp).astype(np.float64) * float(np.float32(scale))).astype(np.float32)
    return y


def check(tflq, thread_args, env, model, name, xs, k, out_dir):
    """Every tensor of the probe model: tflq vs LiteRT builtin on k samples, byte for byte."""
    probe = os.path.join(out_dir, "int8_run_probe.tflite")
    count = probe_model(model, probe)
    interp = litert(probe, "builtin")
    details = interp.get_output_details()
    want = {}
    for s in range(k):
        set_input(interp, xs[s][None])
        interp.invoke()
        for d in details:
            y = as_tflq_writes(d, interp.get_tensor(d["index"]))
            want.setdefault(d["name"], []).append(y)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        inp, got_path = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(inp, **{name: xs[:k]})
        r = subprocess.run([tflq, "run", probe, "--input", inp, "-o", got_path, *thread_args], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.stderr.write(r.stderr.decode(errors="replace"))
            sys.exit("bench_int8_run.py: tflq run of the probe model failed")
        with np.load(got_path) as z:
            got = {n: z[n] for n in z.files}
    differ = []
    for n, per in want.items():
        w = np.concatenate(per) if per[0].shape[:1] == (1,) else np.stack(per)
        g = got.get(n)
        if g is None:
            differ.append(f"{n}: missing from tflq's outputs")
        elif g.dtype != w.dtype or g.shape != w.shape:
            differ.append(f"{n}: tflq {g.dtype}{list(g.shape)}, LiteRT {w.dtype}{list(w.shape)}")
        elif g.tobytes() != w.tobytes():
            bad = int(np.sum(g != w))
            differ.append(f"{n}: {bad}/{w.size} elements differ")
    return count, len(want), differ


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tflq", required=True)
    ap.add_argument("--model", required=True, help="the int8 .tflite to measure")
    ap.add_argument("--samples", required=True, help=".npz with one float input array, sample axis first")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--invokes", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--check-samples", type=int, default=2)
    ap.add_argument("--label", default="", help="a few words on this tflq for the report, e.g. 'before '")
    ap.add_argument("--results")
    a = ap.parse_args()

    name, xs = load_samples(a.samples)
    need = max(1 + a.batch, a.check_samples)
    if len(xs) < need:
        sys.exit(f"bench_int8_run.py: {a.samples} has {len(xs)} samples, {need} needed")
    load_before = loadavg()
    thread_args, env, how = tflq_argv(a.tflq)

    count, checked, differ = check(a.tflq, thread_args, env, a.model, name, xs, a.check_samples, a.out_dir)

    interps = {r: litert(a.model, r) for r in ("xnnpack", "builtin")}
    res = {"xnnpack": [], "builtin": [], "tflq": []}
    with tempfile.TemporaryDirectory(dir=a.out_dir) as tmp:
        one, many = os.path.join(tmp, "one.npz"), os.path.join(tmp, "many.npz")
        np.savez(one, **{name: xs[:1]})
        np.savez(many, **{name: xs[: 1 + a.batch]})

        def tflq_per_sample():
            base = [a.tflq, "run", a.model, *thread_args, "--input"]
            t1 = timed(base + [one], env)
            tn = timed(base + [many], env)
            return tuple((n - o) / a.batch for n, o in zip(tn, t1))

        steps = [
            ("xnnpack", lambda: time_litert(interps["xnnpack"], xs, a.invokes)),
            ("builtin", lambda: time_litert(interps["builtin"], xs, a.invokes)),
            ("tflq", tflq_per_sample),
        ]
        tflq_per_sample()  # warm-up: page cache, CPU frequency
        for r in range(a.rounds):
            for key, f in steps if r % 2 == 0 else steps[::-1]:
                res[key].append(f())
            print(f"bench_int8_run.py: round {r + 1}/{a.rounds}: "
                  + ", ".join(f"{k} {v[-1][0] * 1e3:.2f} ms (CPU {v[-1][1] * 1e3:.2f})" for k, v in res.items()),
                  file=sys.stderr)

    # By wall time and by CPU time: on a loaded machine the wall time of each is stretched by
    # how often it ran, its CPU time much less.
    med = {k: [statistics.median(x[j] for x in v) for j in (0, 1)] for k, v in res.items()}
    ratio_x = [med["tflq"][j] / med["xnnpack"][j] for j in (0, 1)]
    ratio_b = [med["tflq"][j] / med["builtin"][j] for j in (0, 1)]
    lines = [
        "# tflq's integer interpreter against LiteRT, one thread",
        "",
        f"Model: `{a.model}`; samples from `{a.samples}`; tflq {a.label}on one thread by {how}.",
        f"{a.rounds} interleaved rounds; LiteRT: median of {a.invokes} invokes after {WARMUP} warm-up ones; "
        f"tflq: (run of {1 + a.batch} samples - run of 1) / {a.batch}, whole process.",
        "",
        "| per sample | wall ms | CPU ms | wall ms per round |",
        "| --- | --- | --- | --- |",
    ]
    for key, label in (("xnnpack", "LiteRT XNNPACK, 1 thread"), ("builtin", "LiteRT builtin (no XNNPACK), 1 thread"),
                       ("tflq", "tflq run --threads 1")):
        rounds = ", ".join(f"{v[0] * 1e3:.2f}" for v in res[key])
        lines.append(f"| {label} | {med[key][0] * 1e3:.2f} | {med[key][1] * 1e3:.2f} | {rounds} |")
    lines += [
        "",
        f"- tflq / XNNPACK: **{ratio_x[0]:.2f}x** wall, **{ratio_x[1]:.2f}x** CPU (target at most "
        f"{XNNPACK_TARGET:g}x): {verdict(max(ratio_x), XNNPACK_TARGET)}",
        f"- tflq / builtin: **{ratio_b[0]:.2f}x** wall, **{ratio_b[1]:.2f}x** CPU",
        f"- byte check: {checked} tensors (of {count} operator outputs) on {a.check_samples} samples, tflq vs LiteRT "
        f"builtin: " + ("all byte-identical" if not differ else f"**{len(differ)} DIFFER**"),
    ]
    lines += [f"  - {d}" for d in differ[:20]]
    lines += ["", *machine_lines(os.path.dirname(os.path.abspath(__file__)), a.tflq, load_before)]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.results:
        with open(a.results, "w") as f:
            f.write(text)
        with open(os.path.splitext(a.results)[0] + ".json", "w") as f:
            json.dump({"wall_ms": {k: v[0] * 1e3 for k, v in med.items()},
                       "cpu_ms": {k: v[1] * 1e3 for k, v in med.items()},
                       "rounds_wall_cpu_ms": {k: [[x * 1e3 for x in r] for r in v] for k, v in res.items()},
                       "tflq_over_xnnpack": {"wall": ratio_x[0], "cpu": ratio_x[1]},
                       "tflq_over_builtin": {"wall": ratio_b[0], "cpu": ratio_b[1]},
                       "checked_tensors": checked, "differ": differ}, f, indent=1)
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
