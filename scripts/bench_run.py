"""Timing and peak-RSS harness for scripts/bench.sh (system python3, stdlib only).

    python3 scripts/bench_run.py --tflq target/release/tflq \
        --model bench-out/resnet50.tflite --out-dir bench-out [--rounds 7]

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

Prints a markdown report on stdout and writes it to --results too.
"""

import argparse
import os
import platform
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
    """Run argv with stdout to /dev/null; return (wall seconds, peak RSS bytes).

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
    return wall, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tflq", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--results", help="also write the report here")
    args = ap.parse_args()
    load_before = loadavg()

    model, tflq = args.model, args.tflq
    size = os.path.getsize(model)
    cp_dst = f"/tmp/tflq-bench-cp-{os.getpid()}.tflite"
    rt_dst = os.path.join(args.out_dir, "rt.tflite")

    # name -> (argv, file to drop before each run or None)
    cmds = {
        "cp": (["cp", model, cp_dst], cp_dst),
        "convert": ([tflq, "convert", model, "-o", rt_dst], rt_dst),
        "dump": ([tflq, "dump", model], None),
        "dump --json": ([tflq, "dump", "--json", model], None),
    }
    walls = {name: [] for name in cmds}
    rss = {name: [] for name in cmds}

    def once(name):
        argv, drop = cmds[name]
        if drop:
            remove(drop)
        return run(argv)

    try:
        _, floor_rss = run(["true"])
        for name in cmds:  # warm-up, not counted
            once(name)
        order = list(cmds)
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else reversed(order):
                wall, peak = once(name)
                walls[name].append(wall)
                rss[name].append(peak)
            print(f"bench_run.py: round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        remove(cp_dst)

    med = {name: statistics.median(v) for name, v in walls.items()}
    base = med["cp"]
    peak = {name: max(v) for name, v in rss.items()}

    def verdict(value, limit):
        return "ok" if value <= limit else "**over**"

    rows = [
        ("`cp` median wall time (baseline)", ms(base), "1.00x", "—", ""),
    ]
    for name, target in (("convert", 2.0), ("dump", None), ("dump --json", None)):
        ratio = med[name] / base
        rows.append((
            f"`tflq {name}` median wall time",
            ms(med[name]),
            f"{ratio:.2f}x cp",
            f"≤ {target:.1f}x cp" if target else "—",
            verdict(ratio, target) if target else "",
        ))
    for name in ("convert", "dump", "dump --json"):
        ratio = peak[name] / size
        rows.append((
            f"`tflq {name}` peak RSS",
            mb(peak[name]),
            f"{ratio:.2f}x file",
            "≤ 1.5x file",
            verdict(ratio, 1.5),
        ))

    spread = ", ".join(
        f"{name} {ms(min(v))}–{ms(max(v))}" for name, v in walls.items()
    )
    lines = [
        f"# tflq benchmark: {os.path.basename(model)}",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- machine: nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), "
        f"CPU {cpu_model()}, {platform.system()} {platform.release()}",
        f"- load average (1/5/15 min) before / after: {load_before} / {loadavg()}",
        f"- tflq: {git_rev(os.path.dirname(os.path.abspath(__file__)))} ({tflq})",
        f"- model: {model}, {size} bytes ({mb(size)})",
        f"- method: 1 warm-up + {args.rounds} interleaved rounds (order reversed every "
        f"other round), warm page cache, median wall time; destination files "
        f"dropped before each run; stdout to /dev/null",
        "",
        "| metric | absolute | value | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    lines += [
        "",
        f"Wall time range over the rounds: {spread}.",
        f"Peak RSS floor of the harness (`true`): {mb(floor_rss)}; RSS counts the "
        f"model's pages that tflq maps (mmap), which are shared page cache.",
        "Absolute figures vary with the load of the shared machine; compare the ratios.",
    ]
    report = "\n".join(lines) + "\n"
    sys.stdout.write(report)
    if args.results:
        with open(args.results, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
