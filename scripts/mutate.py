#!/usr/bin/env python3
"""Structured mutation campaign over the whole CLI (run by scripts/mutate.sh).

Corrupts fixtures and real published models one field at a time and runs every corruption
through every mode, then judges each run as a user would:

  - exit 0, or exit 1 with exactly one `error:` line under 300 characters
    (never a panic, a signal or a hang: 60 s per run);
  - peak RSS under 2 GiB;
  - every input (model, calibration files, images) byte-identical afterwards;
  - on failure, no output, report or temporary file left behind;
  - on success, an output that the official interpreter (LiteRT) loads, allocates and invokes.
    A model that stops at an unresolved custom op passes only if its float original stops at
    the same op (LiteRT has no kernels for MediaPipe's custom ops).

Families of cases:
  tflite    examples/mutants corrupts one field of a .tflite (shapes, types, operand indices,
            opcodes, options, buffers, quantization, signatures); every mode, `run` and `dump`.
  graphdef  frozen GraphDefs corrupted at the protobuf wire level, field by field (varints
            made huge or negative, enums changed, fields dropped or doubled, op names swapped).
  savedmodel  SavedModel directories with a corrupted saved_model.pb, index, or data shard.
  data      calibration data that lies: .npy headers, .npz members and CRCs, images.
  files     outputs that alias inputs (by name, symlink or hard link), special files, signals.

Prints one line per family and a summary; writes every failure with its command to
WORK/failures.txt. Exit 1 if any run failed a check.
"""

import argparse
import concurrent.futures as cf
import hashlib
import io
import json
import os
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from pbwire import pb_mutations

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60
RSS_LIMIT_KB = 2 << 20  # 2 GiB
AS_LIMIT = 8 << 30  # a runaway is stopped here, and counted as a failure

MODES = {
    "none": [],
    "dynamic": ["--quantize", "dynamic"],
    "float16": ["--quantize", "float16"],
    "weight-int8": ["--quantize", "weight-int8"],
    "int8": ["--quantize", "int8"],
    "int8-io": ["--quantize", "int8", "--input-type", "int8", "--output-type", "int8"],
    "uint8-io": ["--quantize", "int8", "--input-type", "uint8", "--output-type", "uint8"],
    "int16x8": ["--quantize", "int16x8"],
}
CALIBRATED = {"int8", "int8-io", "uint8-io", "int16x8"}

FIXTURES = [
    "cnn.tflite", "mlp.tflite", "gru.tflite", "lstm.tflite", "custom_op.tflite", "sparse_fp16.tflite",
    "fp16_weights.tflite", "dynamic_hw.tflite", "op_embedding.tflite", "op_resize.tflite",
    "op_transpose_conv.tflite", "op_pad.tflite", "op_concat.tflite", "with_signature.tflite",
    "audio_spectrogram.tflite",
]
REAL = [
    "face_detection/face_detection_short_range.tflite", "holistic_landmark/hand_recrop.tflite",
    "palm_detection/palm_detection_lite.tflite", "selfie_segmentation/selfie_segmentation.tflite",
    "iris_landmark/iris_landmark.tflite",
]
GRAPHDEFS = ["cnn_frozen.pb", "gd_mnv2_block.pb", "gd_tf1_a.pb", "gd_tf1_b.pb"]
SAVEDMODELS = ["keras_cnn", "module_dict", "tf1_builder"]


# ---------------------------------------------------------------- running and judging


def sha(path):
    h = hashlib.sha256()
    p = Path(path)
    if p.is_dir():
        for f in sorted(p.rglob("*")):
            if f.is_file() and not f.is_symlink():
                h.update(str(f.relative_to(p)).encode())
                h.update(f.read_bytes())
        return h.hexdigest()
    return hashlib.sha256(p.read_bytes()).hexdigest()


def limit_child():
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    os.setsid()


def run_tflq(cmd, kill_after=None, sig=signal.SIGINT):
    """Runs cmd; returns (exit code or -signal, stderr, max RSS in KiB, timed out)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limit_child)
    err_chunks = []
    reader = threading.Thread(target=lambda: err_chunks.append(p.stderr.read()), daemon=True)
    reader.start()
    start = time.monotonic()
    timed_out = False
    sent = False
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        elapsed = time.monotonic() - start
        if kill_after is not None and not sent and elapsed >= kill_after:
            os.kill(p.pid, sig)
            sent = True
        if elapsed > TIMEOUT:
            timed_out = True
            os.killpg(p.pid, signal.SIGKILL)
        time.sleep(0.002)
    reader.join(5)
    p.returncode = os.waitstatus_to_exitcode(status)
    stderr = b"".join(err_chunks).decode("utf-8", "replace")
    return p.returncode, stderr, ru.ru_maxrss, timed_out


class Validator:
    """A LiteRT process that loads, allocates and invokes models on request. A model that
    crashes it is invalid; the process is started again for the next one."""

    CODE = r"""
import sys, json, numpy as np
from ai_edge_litert.interpreter import Interpreter
for line in sys.stdin:
    path = line.strip()
    try:
        it = Interpreter(model_path=path)
        it.allocate_tensors()
        rng = np.random.default_rng(0)
        for d in it.get_input_details():
            dt = np.dtype(d["dtype"])
            shape = [int(x) for x in d["shape"]]
            if np.issubdtype(dt, np.floating):
                a = rng.uniform(0, 1, shape).astype(dt)
            elif dt == np.bool_:
                a = np.zeros(shape, dt)
            elif np.issubdtype(dt, np.integer):
                a = rng.integers(0, 3, shape).astype(dt)
            else:
                a = np.zeros(shape, dt)
            it.set_tensor(d["index"], a)
        it.invoke()
        for d in it.get_output_details():
            it.get_tensor(d["index"])
        print(json.dumps({"ok": True}), flush=True)
    except Exception as e:
        print(json.dumps({"ok": False, "error": str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__}), flush=True)
"""

    def __init__(self, python):
        self.python = python
        self.p = None
        self.lock = threading.Lock()

    def _start(self):
        self.p = subprocess.Popen([self.python, "-c", self.CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def check(self, path):
        with self.lock:
            if self.p is None or self.p.poll() is not None:
                self._start()
            self.p.stdin.write(str(path) + "\n")
            self.p.stdin.flush()
            result = {}
            t = threading.Thread(target=lambda: result.setdefault("line", self.p.stdout.readline()), daemon=True)
            t.start()
            t.join(TIMEOUT)
            line = result.get("line")
            if not line:
                code = self.p.poll()
                self.p.kill()
                self.p = None
                return {"ok": False, "error": "LiteRT crashed (exit %s) or hung" % code}
            return json.loads(line)


CUSTOM_RE = re.compile(r"unresolved custom op: ?([A-Za-z0-9_]+)|\(([A-Za-z0-9_]+)\) failed to prepare")


def custom_stop(result):
    """The custom op LiteRT stopped at (no kernel, or its kernel refused to prepare), if any."""
    m = CUSTOM_RE.search(result.get("error", ""))
    if not m:
        return None
    name = m.group(1) or m.group(2)
    # A builtin that failed to prepare is not a custom op stop.
    return None if name.isupper() else name


class Campaign:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.tflq = args.tflq
        self.local = threading.local()
        self.counts = {}
        self.failures = []
        self.lock = threading.Lock()
        self.n = 0
        self.ref_cache = {}
        self.log = []

    def validator(self):
        # One LiteRT process per worker thread.
        if not hasattr(self.local, "v"):
            self.local.v = Validator(self.args.python)
        return self.local.v

    def reference(self, model):
        """What LiteRT makes of a float model: None (runs), or the custom op it stops at."""
        key = str(model)
        if key not in self.ref_cache:
            r = self.validator().check(model)
            self.ref_cache[key] = None if r["ok"] else (custom_stop(r) or "invalid: " + r["error"])
        return self.ref_cache[key]

    def tally(self, family, what):
        with self.lock:
            c = self.counts.setdefault(family, {"runs": 0, "errors": 0, "written": 0, "failed": 0})
            c[what] += 1

    def fail(self, family, name, cmd, why):
        with self.lock:
            self.failures.append("%s | %s | %s\n    %s" % (family, name, why, " ".join(map(str, cmd))))
        self.tally(family, "failed")

    def case(self, family, name, cmd, inputs, outputs, case_dir, reference=None, expect_output=True, **kw):
        """One run of tflq, judged. `inputs` must not change; `outputs` are the files it may
        write; anything else new in case_dir is a leftover."""
        before = {str(p): sha(p) for p in inputs}
        listing = set(os.listdir(case_dir))
        code, stderr, rss, timed_out = run_tflq(cmd, **kw)
        self.tally(family, "runs")
        problems = []
        signalled = kw.get("kill_after") is not None and code in (128 + kw.get("sig", signal.SIGINT), -kw.get("sig", signal.SIGINT))
        if timed_out:
            problems.append("hang (killed after %d s)" % TIMEOUT)
        elif signalled:
            pass  # stopped by the signal sent: only leftovers are checked
        elif code not in (0, 1):
            problems.append("exit %s: %s" % (code, stderr.strip()[-300:]))
        if rss > RSS_LIMIT_KB:
            problems.append("peak RSS %d MiB" % (rss >> 10))
        for p, h in before.items():
            if not Path(p).exists() or sha(p) != h:
                problems.append("input changed: " + p)
        lines = [l for l in stderr.splitlines() if l and not l.startswith(("warning:", "note:"))]
        after = set(os.listdir(case_dir)) - listing
        if signalled and after:
            problems.append("left behind after the signal: " + ", ".join(sorted(after)))
        if code == 1:
            self.tally(family, "errors")
            if len(lines) != 1 or not lines[0].startswith("error:"):
                problems.append("not one error line: %r" % stderr[-300:])
            elif len(lines[0]) >= 300:
                problems.append("error line of %d characters" % len(lines[0]))
            if after:
                problems.append("left behind: " + ", ".join(sorted(after)))
        elif code == 0:
            stray = [f for f in after if f not in {Path(o).name for o in outputs}]
            if stray:
                problems.append("stray files: " + ", ".join(sorted(stray)))
            if expect_output:
                for o in outputs:
                    if str(o).endswith(".tflite"):
                        if not Path(o).exists():
                            problems.append("exit 0 but no output " + str(o))
                            continue
                        self.tally(family, "written")
                        r = self.validator().check(o)
                        if not r["ok"]:
                            stop = custom_stop(r)
                            if stop is None or stop != reference:
                                problems.append("LiteRT refuses the output: " + r["error"])
        if problems:
            self.fail(family, name, cmd, "; ".join(problems))
        first = lines[0] if lines else ""
        with self.lock:
            self.log.append("%s\t%s\t%s\t%d\t%s" % (family, name, code, rss >> 10, first[:200]))
        return code

    def new_dir(self):
        with self.lock:
            self.n += 1
            n = self.n
        d = self.work / "cases" / ("c%06d" % n)
        d.mkdir(parents=True)
        return d

    def pool(self, jobs):
        with cf.ThreadPoolExecutor(self.args.jobs) as ex:
            for f in cf.as_completed([ex.submit(j) for j in jobs]):
                f.result()


# ---------------------------------------------------------------- inputs and data


def input_details(python, model):
    code = ("import sys,json,numpy as np\nfrom ai_edge_litert.interpreter import Interpreter\n"
            "it=Interpreter(model_path=sys.argv[1])\n"
            "sig=it.get_signature_list()\n"
            "keys=sig[sorted(sig)[0]]['inputs'] if len(sig)==1 else None\n"
            "ds=it.get_input_details()\n"
            "if keys:\n"
            "  r=it.get_signature_runner(sorted(sig)[0]).get_input_details()\n"
            "  names={v['index']:k for k,v in r.items()}\n"
            "else:\n"
            "  names={}\n"
            "print(json.dumps([{'name':names.get(d['index'],d['name']),'shape':[int(x) for x in d['shape_signature']],"
            "'dtype':np.dtype(d['dtype']).name} for d in ds]))")
    out = subprocess.run([python, "-c", code, str(model)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def make_calibration(python, model, dest, samples=4, seed=0):
    """Random samples for the model's inputs: a .npy for one input, else a .npz by name."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for d in input_details(python, model):
        shape = [samples] + [x if x > 0 else 8 for x in d["shape"][1:]]
        dt = np.dtype(d["dtype"])
        if np.issubdtype(dt, np.floating):
            arrays[d["name"]] = rng.uniform(0, 1, shape).astype(np.float32)
        else:
            arrays[d["name"]] = rng.integers(0, 3, shape).astype(dt)
    if len(arrays) == 1:
        path = dest.with_suffix(".npy")
        np.save(path, next(iter(arrays.values())))
    else:
        path = dest.with_suffix(".npz")
        np.savez(path, **arrays)
    return path


def mutants(binary, model, out_dir, seed):
    out = subprocess.run([binary, str(model), str(out_dir), "--seed", str(seed)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("mutants failed on %s: %s" % (model, out.stderr))
    return [tuple(l.split("\t", 1)) for l in out.stdout.splitlines()]


# ---------------------------------------------------------------- families


def family_tflite(c, sources, per_model, rnd):
    jobs = []
    for src, calib_samples in sources:
        stem = src.stem
        base = c.work / "mutants" / stem
        base.mkdir(parents=True, exist_ok=True)
        calib = make_calibration(c.args.python, src, base / "calib", calib_samples)
        ref = c.reference(src)
        cases = mutants(c.args.mutants, src, base, c.args.seed)
        if per_model and len(cases) > per_model:
            cases = sorted(rnd.sample(cases, per_model))
        for path, what in cases:
            for mode, flags in MODES.items():
                def job(path=path, what=what, mode=mode, flags=flags, calib=calib, ref=ref):
                    d = c.new_dir()
                    model = d / "in.tflite"
                    shutil.copy(path, model)
                    out = d / "out.tflite"
                    cmd = [c.tflq, "convert", "-q", model, "-o", out] + flags
                    inputs = [model]
                    if mode in CALIBRATED:
                        cmd += ["--calibration-data", calib]
                        inputs.append(calib)
                    c.case("tflite", "%s: %s [%s]" % (Path(path).name, what, mode), cmd, inputs, [out], d, ref)
                    shutil.rmtree(d)
                jobs.append(job)
            for verb in ("run", "dump"):
                def job(path=path, what=what, verb=verb, calib=calib):
                    d = c.new_dir()
                    model = d / "in.tflite"
                    shutil.copy(path, model)
                    if verb == "run":
                        cmd = [c.tflq, "run", model, "--input", calib, "-o", d / "out.npz"]
                        outs = [d / "out.npz"]
                    else:
                        cmd = [c.tflq, "dump", "--json", model]
                        outs = []
                    c.case("tflite", "%s: %s [%s]" % (Path(path).name, what, verb), cmd, [model, calib], outs, d,
                           expect_output=False)
                    shutil.rmtree(d)
                jobs.append(job)
    c.pool(jobs)


def family_graphdef(c, count, rnd):
    jobs = []
    calib = ROOT / "testdata" / "cnn.calib.npy"
    for name in GRAPHDEFS:
        src = ROOT / "testdata" / name
        side = json.loads(src.with_suffix(".json").read_text()) if src.with_suffix(".json").exists() else {}
        for k, (what, blob) in enumerate(pb_mutations(src.read_bytes(), rnd, count)):
            mode = list(MODES)[k % len(MODES)]
            def job(what=what, blob=blob, mode=mode, name=name, side=side):
                d = c.new_dir()
                model = d / "in.pb"
                model.write_bytes(blob)
                out = d / "out.tflite"
                cmd = [c.tflq, "convert", "-q", model, "-o", out] + MODES[mode]
                inputs = [model]
                if mode in CALIBRATED:
                    data = d / "calib"
                    data = write_calib_for_side(side, data) or calib
                    cmd += ["--calibration-data", data]
                    inputs.append(data)
                c.case("graphdef", "%s: %s [%s]" % (name, what, mode), cmd, inputs, [out], d)
                shutil.rmtree(d)
            jobs.append(job)
    c.pool(jobs)


def write_calib_for_side(side, dest):
    shapes = side.get("input_shapes") or side.get("inputs")
    if not isinstance(shapes, list) or len(shapes) != 1:
        return None
    s = shapes[0]
    if isinstance(s, dict):
        s = s.get("shape")
    if not isinstance(s, list) or not all(isinstance(x, int) and x > 0 for x in s):
        return None
    path = dest.with_suffix(".npy")
    np.save(path, np.random.default_rng(0).uniform(0, 1, [4] + s[1:]).astype(np.float32))
    return path


def family_savedmodel(c, count, rnd):
    jobs = []
    for name in SAVEDMODELS:
        src = ROOT / "testdata" / "savedmodel" / name
        pb = (src / "saved_model.pb").read_bytes()
        index = (src / "variables" / "variables.index").read_bytes()
        shards = sorted((src / "variables").glob("variables.data-*"))
        cases = [("saved_model.pb: " + w, "saved_model.pb", b) for w, b in pb_mutations(pb, rnd, count)]
        for k in range(count // 2):
            b = bytearray(index)
            pos = rnd.randrange(len(b))
            b[pos] ^= 1 << rnd.randrange(8)
            cases.append(("variables.index: bit flipped at %d" % pos, "variables/variables.index", bytes(b)))
        cases.append(("variables.index empty", "variables/variables.index", b""))
        for s in shards:
            data = s.read_bytes()
            rel = "variables/" + s.name
            cases.append((rel + " truncated", rel, data[: len(data) // 2]))
            cases.append((rel + " empty", rel, b""))
            if data:
                b = bytearray(data)
                b[len(b) // 2] ^= 0xFF
                cases.append((rel + " byte flipped", rel, bytes(b)))
        cases.append(("variables/ removed", "variables", None))
        for k, (what, rel, blob) in enumerate(cases):
            mode = list(MODES)[k % len(MODES)]
            def job(what=what, rel=rel, blob=blob, mode=mode, src=src, name=name):
                d = c.new_dir()
                model = d / "in"
                shutil.copytree(src, model)
                target = model / rel
                if blob is None:
                    shutil.rmtree(target)
                else:
                    target.write_bytes(blob)
                out = d / "out.tflite"
                cmd = [c.tflq, "convert", "-q", model, "-o", out] + MODES[mode]
                inputs = [model]
                if mode in CALIBRATED:
                    calib = [p for p in src.glob("*.np[yz]")]
                    if not calib:
                        return
                    cmd += ["--calibration-data", calib[0]]
                c.case("savedmodel", "%s: %s [%s]" % (name, what, mode), cmd, inputs, [out], d)
                shutil.rmtree(d)
            jobs.append(job)
    c.pool(jobs)


def npy_bytes(header, payload, version=1):
    h = header.encode("latin1")
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + payload
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(h)) + h + payload


def data_cases(sample_shape, key, rnd):
    """Corrupt calibration files for a model with one float input of sample_shape."""
    shape = tuple(sample_shape)
    good = np.random.default_rng(1).uniform(0, 1, (3,) + shape).astype(np.float32)
    payload = good.tobytes()
    hdr = lambda descr, shp, fortran=False: "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, fortran, str(tuple(shp)))
    cases = [
        ("npy header claims 1000 samples", ".npy", npy_bytes(hdr("<f4", (1000,) + shape), payload)),
        ("npy header claims 2^40 samples", ".npy", npy_bytes(hdr("<f4", (1 << 40,) + shape), payload)),
        ("npy shape with a huge axis", ".npy", npy_bytes(hdr("<f4", (3, 1 << 31) + shape[1:]), payload)),
        ("npy dtype object", ".npy", npy_bytes(hdr("|O", (3,) + shape), payload)),
        ("npy dtype <f8 over f4 data", ".npy", npy_bytes(hdr("<f8", (3,) + shape), payload)),
        ("npy dtype complex", ".npy", npy_bytes(hdr("<c8", (3,) + shape), payload)),
        ("npy fortran order", ".npy", npy_bytes(hdr("<f4", (3,) + shape, True), payload)),
        ("npy big-endian", ".npy", npy_bytes(hdr(">f4", (3,) + shape), payload)),
        ("npy header length huge", ".npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{" + payload[:64]),
        ("npy header not a dict", ".npy", npy_bytes("[1, 2, 3]", payload)),
        ("npy header python code", ".npy", npy_bytes("__import__('os').system('false')", payload)),
        ("npy version 9", ".npy", b"\x93NUMPY\x09\x00" + npy_bytes(hdr("<f4", (3,) + shape), payload)[8:]),
        ("npy truncated payload", ".npy", npy_bytes(hdr("<f4", (3,) + shape), payload[: len(payload) // 2])),
        ("npy truncated header", ".npy", npy_bytes(hdr("<f4", (3,) + shape), payload)[:20]),
        ("npy wrong sample shape", ".npy", npy_bytes(hdr("<f4", (3, 7, 5)), np.zeros(105, np.float32).tobytes())),
        ("npy NaN values", ".npy", npy_bytes(hdr("<f4", (3,) + shape), np.full(good.size, np.nan, np.float32).tobytes())),
        ("npy Inf value", ".npy", npy_bytes(hdr("<f4", (3,) + shape), np.where(np.arange(good.size) == 5, np.inf, good.ravel()).astype(np.float32).tobytes())),
        ("npy f64 beyond f32", ".npy", npy_bytes(hdr("<f8", (3,) + shape), np.full(good.size, 1e300).tobytes())),
        ("npy denormals only", ".npy", npy_bytes(hdr("<f4", (3,) + shape), np.full(good.size, 1e-42, np.float32).tobytes())),
        ("npy zero samples", ".npy", npy_bytes(hdr("<f4", (0,) + shape), b"")),
        ("npy int8 data", ".npy", npy_bytes(hdr("|i1", (3,) + shape), np.zeros(good.size, np.int8).tobytes())),
        ("npy bool data", ".npy", npy_bytes(hdr("|b1", (3,) + shape), np.zeros(good.size, np.uint8).tobytes())),
        ("empty file", ".npy", b""),
        ("not npy", ".npy", b"hello world\n" * 10),
    ]
    # .npz: good members with lying zip structures.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(key + ".npy", npy_bytes(hdr("<f4", (3,) + shape), payload))
    npz = buf.getvalue()
    bad_crc = bytearray(npz)
    i = npz.find(b"PK\x03\x04")
    bad_crc[i + 14] ^= 0xFF
    j = npz.find(b"PK\x01\x02")
    bad_crc[j + 16] ^= 0xFF
    cases.append(("npz bad CRC", ".npz", bytes(bad_crc)))
    lying = bytearray(npz)
    struct.pack_into("<I", lying, i + 22, 0x7FFFFFFF)
    struct.pack_into("<I", lying, j + 24, 0x7FFFFFFF)
    cases.append(("npz member claims 2 GiB uncompressed", ".npz", bytes(lying)))
    small = bytearray(npz)
    struct.pack_into("<I", small, i + 22, 16)
    struct.pack_into("<I", small, j + 24, 16)
    cases.append(("npz member claims 16 bytes uncompressed", ".npz", bytes(small)))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        big = npy_bytes(hdr("<f4", (1 << 28,)), b"")
        z.writestr(key + ".npy", big + b"\0" * (256 << 20))
    cases.append(("npz that inflates to 256 MiB of one wrong array", ".npz", bomb.getvalue()))
    cases.append(("npz truncated", ".npz", npz[: len(npz) // 2]))
    cases.append(("npz with no members", ".npz", b"PK\x05\x06" + b"\0" * 18))
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("not_an_input.npy", npy_bytes(hdr("<f4", (3,) + shape), payload))
        z.writestr("x.txt", b"text")
    cases.append(("npz keyed by a name that is no input", ".npz", other.getvalue()))
    return cases


def image_cases(rnd):
    from PIL import Image
    photos = sorted((Path(ROOT) / "bench-out" / "corpus" / "photos" / "calib").glob("*"))
    good = photos[0].read_bytes() if photos else b""
    png = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(png, "PNG")
    png = png.getvalue()
    huge = bytearray(png)
    struct.pack_into(">II", huge, 16, 30000, 30000)
    crc = zlib.crc32(bytes(huge[12:29])) & 0xFFFFFFFF
    struct.pack_into(">I", huge, 29, crc)
    gray = io.BytesIO()
    Image.new("L", (32, 32), 7).save(gray, "PNG")
    rgba = io.BytesIO()
    Image.new("RGBA", (32, 32), (1, 2, 3, 4)).save(rgba, "PNG")
    deep = io.BytesIO()
    Image.new("I;16", (32, 32), 1000).save(deep, "PNG")
    return [
        ("truncated JPEG", {"a.jpg": good[: len(good) // 3] if good else b"\xff\xd8\xff"}),
        ("zero-byte PNG", {"a.png": b""}),
        ("text named .jpg", {"a.jpg": b"not an image"}),
        ("PNG header claims 30000x30000", {"a.png": bytes(huge)}),
        ("PNG with a bad CRC", {"a.png": png[:20] + bytes([png[20] ^ 1]) + png[21:]}),
        ("grayscale PNG", {"a.png": gray.getvalue()}),
        ("RGBA PNG", {"a.png": rgba.getvalue()}),
        ("16-bit PNG", {"a.png": deep.getvalue()}),
        ("one good, one broken", {"a.png": png, "b.jpg": b"\xff\xd8\xff\xe0garbage"}),
        ("no images", {"readme.txt": b"hi"}),
        ("nested class folders", {"cat/a.png": png, "dog/b.png": png, "dog/deeper/c.png": png}),
    ]


def family_data(c, rnd):
    jobs = []
    model = ROOT / "testdata" / "cnn.tflite"
    detail = input_details(c.args.python, model)[0]
    for what, ext, blob in data_cases(detail["shape"][1:], detail["name"], rnd):
        for mode in ("int8", "int16x8", "run"):
            def job(what=what, ext=ext, blob=blob, mode=mode):
                d = c.new_dir()
                data = d / ("calib" + ext)
                data.write_bytes(blob)
                m = d / "in.tflite"
                shutil.copy(model, m)
                if mode == "run":
                    cmd, outs = [c.tflq, "run", m, "--input", data, "-o", d / "out.npz"], [d / "out.npz"]
                else:
                    cmd, outs = [c.tflq, "convert", "-q", m, "-o", d / "out.tflite", "--calibration-data", data] + MODES[mode], [d / "out.tflite"]
                c.case("data", "%s [%s]" % (what, mode), cmd, [m, data], outs, d, expect_output=mode != "run")
                shutil.rmtree(d)
            jobs.append(job)
    real = c.work / "real" / "selfie_segmentation.tflite"
    for what, files in image_cases(rnd):
        for mode in ("int8", "run"):
            def job(what=what, files=files, mode=mode):
                d = c.new_dir()
                folder = d / "images"
                for rel, blob in files.items():
                    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                    (folder / rel).write_bytes(blob)
                m = d / "in.tflite"
                shutil.copy(real, m)
                if mode == "run":
                    cmd, outs = [c.tflq, "run", m, "--input", folder, "-o", d / "out.npz"], [d / "out.npz"]
                else:
                    cmd, outs = [c.tflq, "convert", "-q", m, "-o", d / "out.tflite", "--quantize", "int8",
                                 "--calibration-data", folder], [d / "out.tflite"]
                c.case("data", "images: %s [%s]" % (what, mode), cmd, [m, folder], outs, d, c.reference(real),
                       expect_output=mode != "run")
                shutil.rmtree(d)
            jobs.append(job)
    c.pool(jobs)


def family_files(c, rnd):
    """Outputs aliasing inputs, special files, and signals during the write."""
    src = ROOT / "testdata" / "cnn.tflite"
    calib = ROOT / "testdata" / "cnn.calib.npy"
    jobs = []

    def setup():
        d = c.new_dir()
        m = d / "in.tflite"
        shutil.copy(src, m)
        k = d / "calib.npy"
        shutil.copy(calib, k)
        return d, m, k

    def alias_case(name, make):
        def job():
            d, m, k = setup()
            cmd, inputs, outs = make(d, m, k)
            c.case("files", name, [c.tflq] + cmd, inputs, outs, d)
            shutil.rmtree(d)
        jobs.append(job)

    q8 = ["--quantize", "int8", "--calibration-data"]
    alias_case("-o is the model", lambda d, m, k: (["convert", m, "-o", m], [m], []))
    alias_case("--report is the model", lambda d, m, k: (["convert", m, "-o", d / "o.tflite", "--report", m], [m], []))
    alias_case("--report is -o", lambda d, m, k: (["convert", m, "-o", d / "o.tflite", "--report", d / "o.tflite"], [m], []))
    alias_case("-o is the calibration file", lambda d, m, k: (["convert", m, "-o", k] + q8 + [k], [m, k], []))
    alias_case("--report is the calibration file", lambda d, m, k: (["convert", m, "-o", d / "o.tflite", "--report", k] + q8 + [k], [m, k], []))

    def symlinked(d, m, k):
        os.symlink(m.resolve(), d / "link.tflite")
        return ["convert", m, "-o", d / "link.tflite"], [m], []
    alias_case("-o is a symlink to the model", symlinked)

    def hardlinked(d, m, k):
        os.link(m, d / "hard.tflite")
        return ["convert", m, "-o", d / "hard.tflite"], [m], []
    alias_case("-o is a hard link to the model", hardlinked)

    def in_folder(d, m, k):
        (d / "imgs").mkdir()
        from PIL import Image
        Image.new("RGB", (28, 28), 5).save(d / "imgs" / "a.png")
        return ["convert", m, "-o", d / "imgs" / "a.png"] + q8 + [d / "imgs"], [m, d / "imgs"], []
    alias_case("-o is an image in the calibration folder", in_folder)
    alias_case("run -o is the model", lambda d, m, k: (["run", m, "--input", k, "-o", m], [m, k], []))
    alias_case("run -o is the input data", lambda d, m, k: (["run", m, "--input", k, "-o", k], [m, k], []))
    alias_case("-o in a missing folder", lambda d, m, k: (["convert", m, "-o", d / "no" / "o.tflite"], [m], []))
    alias_case("-o is a folder", lambda d, m, k: (["convert", m, "-o", d], [m], []))
    alias_case("model is /dev/zero", lambda d, m, k: (["convert", "/dev/zero", "-o", d / "o.tflite"], [], []))
    alias_case("-o is /dev/full", lambda d, m, k: (["convert", m, "-o", "/dev/full"], [m], []))
    alias_case("model is a folder", lambda d, m, k: (["convert", d, "-o", d / "o.tflite"], [m], []))
    alias_case("model missing", lambda d, m, k: (["convert", d / "missing.tflite", "-o", d / "o.tflite"], [m], []))
    alias_case("calibration data /dev/zero", lambda d, m, k: (["convert", m, "-o", d / "o.tflite"] + q8 + ["/dev/zero"], [m], []))

    def fifo(d, m, k):
        os.mkfifo(d / "pipe.tflite")
        return ["convert", d / "pipe.tflite", "-o", d / "o.tflite"], [m], []
    alias_case("model is a FIFO", fifo)

    def fifo_data(d, m, k):
        os.mkfifo(d / "pipe.npy")
        return ["convert", m, "-o", d / "o.tflite"] + q8 + [d / "pipe.npy"], [m], []
    alias_case("calibration data is a FIFO", fifo_data)

    def fifo_dump(d, m, k):
        os.mkfifo(d / "pipe2.tflite")
        return ["dump", d / "pipe2.tflite"], [m], []
    alias_case("dump of a FIFO", fifo_dump)

    # Signals at random moments of a conversion large enough to be caught in the middle.
    big = c.work / "real" / "selfie_segmentation.tflite"
    photos = Path(c.args.corpus) / "photos" / "calib"
    flags = ["--quantize", "int8", "--calibration-data", photos, "--calibration-samples", "8"]
    d = c.new_dir()
    t = time.monotonic()
    run_tflq([c.tflq, "convert", "-q", big, "-o", d / "o.tflite"] + flags)
    span = time.monotonic() - t
    shutil.rmtree(d)
    for k in range(c.args.signals):
        sig = signal.SIGINT if k % 2 == 0 else signal.SIGTERM
        delay = rnd.uniform(0.0, span * 1.1)
        def job(sig=sig, delay=delay):
            d = c.new_dir()
            m = d / "in.tflite"
            shutil.copy(big, m)
            out = d / "out.tflite"
            cmd = [c.tflq, "convert", "-q", m, "-o", out, "--report", d / "r.json"] + flags
            code = c.case("files", "%s after %.2f s" % (sig.name, delay), cmd, [m], [out, d / "r.json"], d,
                          c.reference(big), kill_after=delay, sig=sig)
            shutil.rmtree(d)
        jobs.append(job)
    c.pool(jobs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tflq", required=True)
    ap.add_argument("--mutants", required=True, help="the examples/mutants binary")
    ap.add_argument("--python", default=sys.executable, help="a python with ai-edge-litert")
    ap.add_argument("--corpus", required=True, help="scripts/corpus_fetch.sh's cache (models/, photos/)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--per-fixture", type=int, default=120, help="at most N mutants per fixture (0: all)")
    ap.add_argument("--per-real", type=int, default=40, help="at most N mutants per real model")
    ap.add_argument("--pb-cases", type=int, default=120, help="mutations per GraphDef and per SavedModel")
    ap.add_argument("--signals", type=int, default=40)
    ap.add_argument("--families", default="tflite,graphdef,savedmodel,data,files")
    args = ap.parse_args()

    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    (work / "real").mkdir(parents=True)
    modules = Path(args.corpus) / "models" / "mediapipe" / "modules"
    for r in REAL:
        shutil.copy(modules / r, work / "real" / Path(r).name)
    c = Campaign(args)
    rnd = random.Random(args.seed)
    families = args.families.split(",")
    t0 = time.time()
    for fam in families:
        t = time.time()
        if fam == "tflite":
            fixtures = [(ROOT / "testdata" / f, 4) for f in FIXTURES]
            family_tflite(c, fixtures, args.per_fixture, rnd)
            family_tflite(c, [(work / "real" / Path(r).name, 2) for r in REAL], args.per_real, rnd)
        elif fam == "graphdef":
            family_graphdef(c, args.pb_cases, rnd)
        elif fam == "savedmodel":
            family_savedmodel(c, args.pb_cases, rnd)
        elif fam == "data":
            family_data(c, rnd)
        elif fam == "files":
            family_files(c, rnd)
        else:
            raise SystemExit("unknown family " + fam)
        k = c.counts.get(fam, {"runs": 0, "errors": 0, "written": 0, "failed": 0})
        print("mutate %-10s %6d runs: %6d clean errors, %6d outputs checked in LiteRT, %d failed (%.0f s)" % (
            fam, k["runs"], k["errors"], k["written"], k["failed"], time.time() - t), flush=True)
    total = {x: sum(k[x] for k in c.counts.values()) for x in ("runs", "errors", "written", "failed")}
    (work / "failures.txt").write_text("\n".join(c.failures) + "\n")
    (work / "log.tsv").write_text("family\tcase\texit\trss_mib\tmessage\n" + "\n".join(sorted(c.log)) + "\n")
    print("mutate total      %6d runs: %6d clean errors, %6d outputs checked in LiteRT, %d failed (%.0f s)" % (
        total["runs"], total["errors"], total["written"], total["failed"], time.time() - t0))
    if c.failures:
        print("failures (first 20; all in %s):" % (work / "failures.txt"))
        for f in c.failures[:20]:
            print("  " + f)
        sys.exit(1)


if __name__ == "__main__":
    main()
