#!/usr/bin/env python3
"""Real-model corpus check: quantizes every float .tflite model of the corpus with tflq in
each mode and judges each output in the official interpreter (LiteRT).

Run through scripts/corpus.sh, which downloads the corpus, makes the venv and builds tflq;
the arguments below are what corpus.sh passes, plus the user's options:

  --only NAME[,NAME]   models to check (file name without .tflite; repeatable)
  --modes M[,M]        modes to check (default: all six, see MODES)
  --json OUT           also dump every result as JSON
  --update-floors      record floors (measured SQNR minus 1 dB, rounded down to 0.5 dB) for
                       cells that have none yet, then check as usual; existing floors stay

Checks, per model and mode (every failing one is printed; exit status 1 if any):
  converts    `tflq convert` exits 0 and writes its report
  loads       LiteRT loads, allocates and invokes the output on every held-out photo. For a
              model with custom ops (LiteRT has no kernels for MediaPipe's), only the
              "unresolved custom op" failure that the float model itself gets is accepted,
              and SQNR comes from tflq's interpreter (examples/compare_int8)
  io-type     with --input-type/--output-type int8, the model's inputs/outputs are int8
  file-size   output file <= 1.02 x input file, not counting the quantization parameters'
              arrays (one scale and one int64 zero point per channel, which the schema and
              the interpreter require)
  const-grow  output constant bytes <= input constant bytes
  const-ratio output/input constant bytes inside the range the mode promises (RATIO), leaving
              out of both sides what no mode shrinks: for dynamic and weight-int8, the weights
              that --min-weight-elements keeps float by design ("too small (N < 1024
              elements)"); the values of sparse weights kept in their smaller sparse form
              ("sparse weight kept as it is: N value bytes"); the index arrays of sparse constants
  sqnr        min over outputs of the SQNR against the float model, on the same held-out
              photos, >= the floor in scripts/corpus_floors.json (a missing floor fails)
  int16x8-vs-int8  the int16x8 SQNR is not below the int8 one (0.1 dB slack)
  compare     int8, int16x8: `tflq compare`'s per-output SQNR is within 0.05 dB of the
              SQNR measured here from LiteRT's outputs (models LiteRT runs)
  exact       int8, int8-io, int16x8: `tflq run` gives the same output bytes as LiteRT's
              built-in kernels with XNNPACK off, on the same (quantized) photos (models LiteRT
              runs with its built-in kernels only)
"""

import argparse
import glob
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
from PIL import Image

MODES = {
    "dynamic": ["--quantize", "dynamic"],
    "float16": ["--quantize", "float16"],
    "weight-int8": ["--quantize", "weight-int8"],
    "int8": ["--quantize", "int8"],
    "int8-io": ["--quantize", "int8", "--input-type", "int8", "--output-type", "int8"],
    "int16x8": ["--quantize", "int16x8"],
}
CALIBRATED = {"int8", "int8-io", "int16x8"}

# Output constant bytes / input constant bytes that each mode promises, by the kind of the
# input's weights: float32, or float16 (MediaPipe's fp16 models, sparse or not). int8
# weights are ~0.25 of float32 (plus int32 biases and per-channel scales) and ~0.5 of float16.
RATIO = {
    ("f32", "float16"): (0.48, 0.52),
    ("f16", "float16"): (0.95, 1.00),
}
for _m in ("dynamic", "weight-int8", "int8", "int8-io", "int16x8"):
    RATIO[("f32", _m)] = (0.25, 0.30)
    RATIO[("f16", _m)] = (0.50, 0.60)
# 16x8 biases are int64: four times their float16 size.
RATIO[("f16", "int16x8")] = (0.50, 0.70)
FILE_GROWTH = 1.02
SMALL_RE = re.compile(r"too small \((\d+) < \d+ elements\)")
SPARSE_KEPT_RE = re.compile(r"sparse weight kept as it is: (\d+) value bytes")
FLOOR_CAP = 100.0  # floor for an identical output (inf dB)
EXPECT_MODELS = 14


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --- photos ---------------------------------------------------------------------------------


def taps(n_in, n_out):
    """Source indices and weights of a half-pixel-centre bilinear resize (as tflq's
    src/calibrate/data.rs: src = (dst + 0.5) * in/out - 0.5, clamped, no antialiasing)."""
    pos = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    lo = np.minimum(np.floor(pos).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def load_photo(path, h, w, c):
    """One photo as [1,h,w,c] float32 in [0,1], preprocessed as tflq does for
    --calibration-data DIR (8-bit RGB, PIL "L" weights for gray, bilinear half-pixel)."""
    img = Image.open(path)
    if img.mode.startswith("I;16") or img.mode == "I":
        a = (np.asarray(img, dtype=np.float64) / 257.0).round().clip(0, 255).astype(np.uint8)
        img = Image.fromarray(a, "L")
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint32)
    if c == 1:
        g = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
        px = g[..., None].astype(np.float32)
    else:
        px = rgb.astype(np.float32)
    ih, iw = px.shape[:2]
    if (ih, iw) != (h, w):
        y0, y1, fy = taps(ih, h)
        x0, x1, fx = taps(iw, w)
        fx = fx[None, :, None]
        top = px[y0][:, x0] + (px[y0][:, x1] - px[y0][:, x0]) * fx
        bot = px[y1][:, x0] + (px[y1][:, x1] - px[y1][:, x0]) * fx
        px = top + (bot - top) * fy[:, None, None]
    return (px / np.float32(255.0))[None].astype(np.float32)


# --- LiteRT ---------------------------------------------------------------------------------

CUSTOM_RE = re.compile(r"unresolved custom op: ?([A-Za-z0-9_]+)")


class Custom(Exception):
    pass


def as_input(x, d):
    """Float photo `x` as LiteRT input `d` takes it: quantized (half to even) for an integer input."""
    if d["dtype"] == np.float32:
        return x
    s, zp = d["quantization"]
    info = np.iinfo(d["dtype"])
    return np.clip(np.round(x / s) + zp, info.min, info.max).astype(d["dtype"])


def litert_run(path, photos):
    """Outputs of `path` in LiteRT for each photo, as float64 arrays (int8/int16 outputs
    dequantized, int8/int16 inputs quantized with the input tensor's scale and zero point).
    Raises Custom(op) for an unresolved custom op, any other exception for other failures."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        it = Interpreter(model_path=path)
        it.allocate_tensors()
    except Exception as e:
        m = CUSTOM_RE.search(str(e))
        if m:
            raise Custom(m.group(1)) from None
        raise
    ins, outs = it.get_input_details(), it.get_output_details()
    if len(ins) != 1:
        raise RuntimeError("expected one input, got %d" % len(ins))
    d = ins[0]
    results = []
    for name in sorted(photos):
        x = photos[name]
        it.set_tensor(d["index"], as_input(x, d))
        it.invoke()
        row = []
        for o in outs:
            y = it.get_tensor(o["index"])
            if o["dtype"] != np.float32:
                s, zp = o["quantization"]
                y = (y.astype(np.float64) - zp) * s
            row.append(np.asarray(y, dtype=np.float64))
        results.append(row)
    return results, [o["name"] for o in outs], [str(np.dtype(d["dtype"]))] + [
        str(np.dtype(o["dtype"])) for o in outs
    ]


def exact_check(tflq, path, photos, work):
    """Differences between tflq's interpreter (`tflq run`) and LiteRT's built-in kernels
    (XNNPACK off) on the photos, fed to both as the model's input type: one message per output
    that differs ([] when every output byte agrees), and LiteRT's outputs as float64."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    try:
        it.allocate_tensors()
    except Exception as e:
        m = CUSTOM_RE.search(str(e))
        if m:
            raise Custom(m.group(1)) from None
        raise
    d = it.get_input_details()[0]
    xs = []
    for name in sorted(photos):
        xs.append(as_input(photos[name], d))
    want = []
    for x in xs:
        it.set_tensor(d["index"], x)
        it.invoke()
        want.append([it.get_tensor(o["index"]).copy() for o in it.get_output_details()])
    # The same outputs as float64, dequantized (for the compare check's SQNR).
    deq = [
        [(y.astype(np.float64) - o["quantization"][1]) * o["quantization"][0] if o["dtype"] != np.float32 else y.astype(np.float64)
         for y, o in zip(row, it.get_output_details())]
        for row in want
    ]
    inp, out = os.path.join(work, "exact_in.npy"), os.path.join(work, "exact_out.npz")
    np.save(inp, np.concatenate(xs, axis=0) if xs[0].shape[0] == 1 else np.stack(xs))
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.run([tflq, "run", path, "--input", inp, "-o", out], capture_output=True, text=True)
    if p.returncode != 0:
        return ["tflq run: exit %d: %s" % (p.returncode, p.stderr.strip()[-300:])], deq
    got = np.load(out)
    msgs = []
    for k, o in enumerate(it.get_output_details()):
        w = np.stack([row[k] for row in want]).reshape(len(want), *want[0][k].shape)
        if o["name"] not in got:
            msgs.append("output %s missing from tflq run's .npz" % o["name"])
            continue
        g = got[o["name"]].reshape(w.shape)
        if o["dtype"] == np.float32:
            diff = int(np.sum(g.view(np.uint32) != w.astype(np.float32).view(np.uint32)))
            if diff:
                msgs.append("output %s: %d/%d float values differ (max abs %.3g)" % (o["name"], diff, w.size, float(np.max(np.abs(g - w)))))
            continue
        # tflq run dequantizes integer outputs; distinct integers stay distinct, so they come back.
        s, zp = o["quantization"]
        q = np.round(g.astype(np.float64) / s).astype(np.int64) + zp
        wi = w.astype(np.int64)
        diff = int(np.sum(q != wi))
        if diff:
            msgs.append("output %s: %d/%d values differ (max %d LSB)" % (o["name"], diff, w.size, int(np.max(np.abs(q - wi)))))
    return msgs, deq


def compare_check(tflq, float_path, quant_path, photos, work, want):
    """`tflq compare` on the photos: its per-output SQNR, and a message when one is more than
    0.05 dB from `want` (measured from LiteRT's outputs)."""
    data = os.path.join(work, "compare_in.npy")
    np.save(data, np.concatenate([photos[n] for n in sorted(photos)], axis=0))
    p = subprocess.run([tflq, "compare", float_path, quant_path, "--data", data, "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        return None, "exit %d: %s" % (p.returncode, p.stderr.strip()[-300:])
    got = [o["sqnr_db"] for o in json.loads(p.stdout)["outputs"]]
    got = [float("inf") if v is None else float(v) for v in got]
    bad = [
        "output %d: %.3f dB, LiteRT's %.3f dB" % (k, g, w)
        for k, (g, w) in enumerate(zip(got, want))
        if not (math.isinf(g) and math.isinf(w)) and not abs(g - w) <= 0.05
    ]
    return got, "; ".join(bad)


def sqnr_db(ref, got):
    """SQNR per output, signal and noise summed over all photos (as examples/compare_int8)."""
    out = []
    for k in range(len(ref[0])):
        sig = sum(float(np.sum(r[k] ** 2)) for r in ref)
        noise = sum(float(np.sum((r[k] - g[k]) ** 2)) for r, g in zip(ref, got))
        if not math.isfinite(noise):
            out.append(float("nan"))
        else:
            out.append(float("inf") if noise == 0 else 10 * math.log10(sig / noise))
    return out


def model_kind(path):
    from ai_edge_litert.interpreter import Interpreter

    td = Interpreter(model_path=path).get_tensor_details()
    f16 = any(d["dtype"] == np.float16 for d in td)
    sparse = any(d.get("sparsity_parameters") for d in td)
    return ("f16" if f16 else "f32"), sparse


# --- main -----------------------------------------------------------------------------------


def fmt_db(v):
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if v == float("inf"):
        return "inf"
    return "%.1f" % v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, help="folder searched for *.tflite")
    ap.add_argument("--calib", required=True, help="calibration photos")
    ap.add_argument("--eval", required=True, help="held-out photos")
    ap.add_argument("--work", required=True, help="where outputs and reports go")
    ap.add_argument("--tflq", required=True)
    ap.add_argument("--compare", required=True, help="examples/compare_int8 binary")
    ap.add_argument("--floors", required=True)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--json")
    ap.add_argument("--update-floors", action="store_true")
    a = ap.parse_args()

    paths = sorted(glob.glob(os.path.join(a.models, "**", "*.tflite"), recursive=True))
    models = {os.path.basename(p)[: -len(".tflite")]: p for p in paths}
    failures = []
    if len(models) != EXPECT_MODELS:
        failures.append("corpus: expected %d models, found %d" % (EXPECT_MODELS, len(models)))
    only = [n for o in a.only for n in o.split(",") if n]
    for n in only:
        if n not in models:
            sys.exit("corpus.py: no model %r (have: %s)" % (n, ", ".join(models)))
    if only:
        models = {n: p for n, p in models.items() if n in only}
    modes = [m for m in a.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            sys.exit("corpus.py: no mode %r (have: %s)" % (m, ", ".join(MODES)))
    with open(a.floors) as f:
        floors_doc = json.load(f)
    floors = floors_doc.setdefault("floors", {})

    eval_files = sorted(
        os.path.join(a.eval, f) for f in os.listdir(a.eval) if f.lower().endswith((".png", ".jpg", ".jpeg"))
    )
    os.makedirs(a.work, exist_ok=True)
    results = []
    t_all = time.time()
    for name, path in models.items():
        t_model = time.time()
        kind, sparse = model_kind(path)
        from ai_edge_litert.interpreter import Interpreter

        shape = [int(v) for v in Interpreter(model_path=path).get_input_details()[0]["shape"]]
        _, h, w, c = shape
        photos = {os.path.basename(f): load_photo(f, h, w, c) for f in eval_files}
        ref, ref_custom, ref_error = None, None, None
        try:
            ref, out_names, _ = litert_run(path, photos)
        except Custom as e:
            ref_custom = e.args[0]
        except Exception as e:
            ref_error = " ".join(str(e).split())[:300]
            failures.append("%s: the float model does not run in LiteRT: %s" % (name, ref_error))
        for mode in modes:
            r = {"model": name, "mode": mode, "weights": kind, "sparse": sparse, "fail": []}
            results.append(r)
            fail = r["fail"]
            out = os.path.join(a.work, "%s.%s.tflite" % (name, mode))
            rep = os.path.join(a.work, "%s.%s.report.json" % (name, mode))
            for p in (out, rep):
                if os.path.exists(p):
                    os.remove(p)
            cmd = [a.tflq, "convert", path, "-o", out, "--report", rep] + MODES[mode]
            if mode in CALIBRATED:
                cmd += ["--calibration-data", a.calib]
            t0 = time.time()
            p = subprocess.run(cmd, capture_output=True, text=True)
            r["convert_s"] = round(time.time() - t0, 2)
            if p.returncode != 0 or not os.path.exists(rep):
                fail.append("converts: exit %d: %s" % (p.returncode, p.stderr.strip()[-300:]))
                continue
            with open(rep) as f:
                report = json.load(f)
            sz = report["sizes"]
            r["sizes"] = {k: sz.get(k) for k in ("input_bytes", "output_bytes", "input_constant_bytes", "output_constant_bytes")}
            r["file_ratio"] = sz["output_bytes"] / sz["input_bytes"]
            r["const_ratio"] = sz["output_constant_bytes"] / sz["input_constant_bytes"]
            r["float_ops"] = len(report.get("float_ops") or [])
            r["skipped"] = len(report.get("skipped") or [])
            # Per-channel scales and int64 zero points are required by the schema and the
            # interpreter (one per channel, for weights and biases): allowed on top of alignment.
            qbytes = sz.get("output_quantization_bytes") or 0
            r["quantization_bytes"] = qbytes
            if sz["output_bytes"] - qbytes > FILE_GROWTH * sz["input_bytes"]:
                fail.append(
                    "file-size: %.3fx the input file, %.3fx without its %d bytes of quantization parameters (limit %.2fx)"
                    % (r["file_ratio"], (sz["output_bytes"] - qbytes) / sz["input_bytes"], qbytes, FILE_GROWTH)
                )
            if sz["output_constant_bytes"] > sz["input_constant_bytes"]:
                fail.append("const-grow: constants %.3fx the input's" % r["const_ratio"])
            lo, hi = RATIO[(kind, mode)]
            ratio, what = r["const_ratio"], ""
            # Left out of both sides, since no mode can shrink them: weights that
            # --min-weight-elements keeps float by design (dynamic, weight-int8), sparse
            # weights kept in their smaller sparse input form (the weight-only modes write
            # dense int8 only), and the index arrays of sparse constants (positions, not values).
            per = 2 if kind == "f16" else 4
            kept_in, kept_out = 0, 0
            for x in report.get("skipped") or []:
                reason = x.get("reason", "")
                m = SMALL_RE.search(reason)
                if m and mode in ("dynamic", "weight-int8"):
                    kept_in += int(m.group(1)) * per
                    kept_out += int(m.group(1)) * per
                m = SPARSE_KEPT_RE.search(reason)
                if m:
                    kept_in += int(m.group(1))
                    kept_out += int(m.group(1))
            kept_in += sz.get("input_sparse_index_bytes") or 0
            kept_out += sz.get("output_sparse_index_bytes") or 0
            if kept_in:
                ratio = (sz["output_constant_bytes"] - kept_out) / max(sz["input_constant_bytes"] - kept_in, 1)
                what = " without %d bytes no mode shrinks (small or kept-sparse weights, sparse indices)" % kept_in
                r["const_ratio_quantizable"] = ratio
            if sparse and mode in ("dynamic", "weight-int8"):
                # These modes write dense int8 only (XNNPACK cannot run int8 weights behind
                # DENSIFY there), and only where that is smaller than the sparse input form:
                # the promise is that nothing grows, checked above.
                lo, hi = 0.0, 1.0
                ratio, what = r["const_ratio"], ""
            if not lo <= ratio <= hi:
                fail.append(
                    "const-ratio: constants %.3fx the input's%s, %s promises %.2f-%.2f for %s weights"
                    % (ratio, what, mode, lo, hi, "float16" if kind == "f16" else "float32")
                )
            # Loading and SQNR.
            sq, builtin = None, None
            try:
                got, got_names, io_types = litert_run(out, photos)
                r["engine"] = "litert"
                if ref_custom:
                    fail.append("loads: LiteRT runs it, but not the float model (custom op %s)" % ref_custom)
                elif ref_error:
                    pass  # no reference to measure against (reported once above)
                elif len(got[0]) != len(ref[0]):
                    fail.append("loads: %d outputs, the float model has %d" % (len(got[0]), len(ref[0])))
                else:
                    sq = sqnr_db(ref, got)
                    r["outputs"] = out_names
                r["io_types"] = io_types
                if mode == "int8-io" and any(t != "int8" for t in io_types):
                    fail.append("io-type: input/output types %s, want int8" % ",".join(io_types))
            except Custom as e:
                r["custom_op"] = e.args[0]
                if e.args[0] != ref_custom:
                    fail.append(
                        "loads: unresolved custom op %s, but the float model stops at %s" % (e.args[0], ref_custom)
                    )
                else:
                    # LiteRT has no kernel for it: tflq's interpreter runs both models instead.
                    r["engine"] = "tflq-interp"
                    q = subprocess.run([a.compare, path, out, a.eval], capture_output=True, text=True)
                    if q.returncode == 0:
                        cmp_outs = json.loads(q.stdout)["outputs"]
                        r["outputs"] = [o["name"] for o in cmp_outs]
                        sq = [o["sqnr_db"] for o in cmp_outs]
                        # compare_int8 prints "inf" / "NaN" for non-finite values.
                        sq = [float(v) if v is not None else float("nan") for v in sq]
                    else:
                        r["engine"] = "n/a (custom ops)"  # compare_int8 cannot simulate it
                        r["compare_error"] = q.stderr.strip()[-300:]
            except Exception as e:
                fail.append("loads: %s" % " ".join(str(e).split())[:300])
            if mode in CALIBRATED and r.get("engine") == "litert":
                t0 = time.time()
                try:
                    msgs, builtin = exact_check(a.tflq, out, photos, a.work)
                    r["exact"] = not msgs
                except Custom as e:
                    # XNNPACK runs some MediaPipe custom ops (Convolution2DTransposeBias) that
                    # the built-in kernels lack: nothing to compare with.
                    msgs, r["exact"] = [], None
                    r["exact_note"] = "LiteRT's built-in kernels lack custom op " + e.args[0]
                r["exact_s"] = round(time.time() - t0, 2)
                fail.extend("exact: " + m for m in msgs)
            # Float I/O only: with int8 inputs, how float photos become integers is the caller's
            # rule (here numpy's half-to-even), and tflq compare has its own (LiteRT's QUANTIZE).
            if mode in ("int8", "int16x8") and r.get("engine") == "litert" and sq and builtin:
                # Against the built-in kernels' outputs: XNNPACK's differ by an LSB here and there.
                r["compare_sqnr"], msg = compare_check(a.tflq, path, out, photos, a.work, sqnr_db(ref, builtin))
                if msg:
                    fail.append("compare: " + msg)
            r["sqnr"] = sq
            r["sqnr_min"] = min(sq, key=lambda v: (not math.isnan(v), v)) if sq else None
            if sq:
                r["sqnr_worst"] = r["outputs"][sq.index(r["sqnr_min"])] if not math.isnan(r["sqnr_min"]) else None
            floor = floors.get(name, {}).get(mode)
            r["floor"] = floor
            if sq is not None:
                mn = r["sqnr_min"]
                if floor is None and a.update_floors and not math.isnan(mn):
                    floor = FLOOR_CAP if mn > FLOOR_CAP + 1 else math.floor((mn - 1.0) * 2) / 2
                    floors.setdefault(name, {})[mode] = floor
                    r["floor"] = floor
                if floor is None:
                    fail.append("sqnr: %.2f dB measured, no floor recorded in %s" % (mn, os.path.basename(a.floors)))
                elif not (mn >= floor):
                    fail.append("sqnr: %s dB (%s) < floor %.1f dB" % (fmt_db(mn), r.get("sqnr_worst"), floor))
            elif r.get("engine") == "n/a (custom ops)":
                pass  # the custom-op failure itself was accepted; nothing to measure
            elif not any(f.startswith("loads") for f in fail):
                fail.append("sqnr: not measured")
        log(
            "corpus: %-38s %5.1fs  %s"
            % (name, time.time() - t_model, "  ".join("%s:%s" % (x["mode"], fmt_db(x.get("sqnr_min"))) for x in results if x["model"] == name))
        )
    total = time.time() - t_all

    if a.update_floors:
        with open(a.floors, "w") as f:
            json.dump(floors_doc, f, indent=2, sort_keys=True)
            f.write("\n")

    # 16x8 has 256x finer activations than int8 on the same calibration: it must not be worse.
    for name in models:
        rs = {x["mode"]: x for x in results if x["model"] == name}
        db8, db16 = rs.get("int8", {}).get("sqnr_min"), rs.get("int16x8", {}).get("sqnr_min")
        if db8 is not None and db16 is not None and math.isfinite(db8) and db16 < db8 - 0.1:
            rs["int16x8"]["fail"].append("int16x8-vs-int8: %.2f dB < int8's %.2f dB" % (db16, db8))

    # Table.
    print("| model | weights | " + " | ".join(modes) + " |")
    print("| --- | --- |" + " --- |" * len(modes))
    for name in models:
        rs = {x["mode"]: x for x in results if x["model"] == name}
        any_r = next(iter(rs.values()))
        cells = []
        for m in modes:
            x = rs[m]
            if "file_ratio" not in x:
                cells.append("✗ convert")
                continue
            s = fmt_db(x.get("sqnr_min"))
            if x.get("engine") == "tflq-interp":
                s += "†"
            elif x.get("engine") == "n/a (custom ops)":
                s = "n/a (custom ops)"
            if x.get("exact"):
                s += " ≡"
            if any(f.startswith("loads") for f in x["fail"]):
                s = "no load"
            cell = "%s · %.2f/%.2f" % (s, x["file_ratio"], x["const_ratio"])
            if x["fail"]:
                cell = "✗ " + cell
            cells.append(cell)
        wk = ("fp16" if any_r["weights"] == "f16" else "fp32") + (" sparse" if any_r["sparse"] else "")
        print("| %s | %s | %s |" % (name, wk, " | ".join(cells)))
    print()
    print(
        "Cell: min SQNR over outputs (dB) vs the float model on %d held-out photos · output/input "
        "file size / constant bytes. † = measured in tflq's interpreter (simulated quantization; "
        "LiteRT has no kernel for the model's custom ops). ≡ = `tflq run` gives LiteRT's built-in "
        "kernels' output bytes exactly. ✗ = a check failed." % len(eval_files)
    )
    print()
    low = [x for x in results if x.get("sqnr_min") is not None and not x["sqnr_min"] >= 12]
    if low:
        print("Cells under 12 dB, with the worst output (not a failure unless under the floor): "
              + "; ".join("%s %s %s (%s)" % (x["model"], x["mode"], fmt_db(x["sqnr_min"]), x.get("sqnr_worst")) for x in low))
        print()
    allf = failures + ["%s %s: %s" % (x["model"], x["mode"], f) for x in results for f in x["fail"]]
    if allf:
        print("Failures (%d):" % len(allf))
        for f in allf:
            print("- " + f)
    else:
        print("No failures.")
    print()
    print("Checked %d models x %d modes in %.0fs." % (len(models), len(modes), total))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": results, "failures": allf, "seconds": round(total, 1)}, f, indent=1, default=str)
    sys.exit(1 if allf else 0)


if __name__ == "__main__":
    main()
