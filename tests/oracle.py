#!/usr/bin/env python3
"""Reference-interpreter helper for tflq's Rust integration tests.

Runs .tflite models in the official LiteRT interpreter (ai-edge-litert,
pinned by scripts/venv.sh) and reports results as JSON on stdout. Errors go
to stderr as one `error: ...` line with exit status 1.

Subcommands
  run --out DIR [--inputs DIR] [--seed N] [--threads N] [--resolver R]
      MODEL [MODEL...]
      Feed every model the same inputs and store the outputs.
      Without --inputs, inputs are generated for the FIRST model's input
      details and saved as DIR/input_{i}.npy:
        float          uniform in [0, 1)
        int8/uint8/int16/uint16   uniform over the type's full range
        int32/int64    uniform integers in [0, 10)  (valid embedding ids)
        bool           random True/False
      With --inputs, DIR2/input_{i}.npy are loaded. When a stored array's
      dtype differs from the model input's, a float array is quantized with
      the input's (scale, zero_point) (so one float input set drives float,
      float-I/O and integer-I/O models alike). An integer array fed to a float
      input is dequantized with the FIRST model's input (scale, zero_point)
      when that input is quantized with the array's dtype, else cast. The
      same rules apply to generated inputs.
      Outputs: DIR/m{k}/output_{j}.npy (the raw tensor, its own dtype) and
      DIR/m{k}/output_{j}.f32.npy (dequantized with the output's
      (scale, zero_point) when integer and quantized, else cast to float32).
  schema MODEL
      The model's flatbuffer structure, read with the schema's Python object
      API, as JSON (operator codes, subgraphs, tensors, operators, buffers
      count, signature defs).
  calib [--n N] [--seed S] MODEL OUT.npz
      N generated samples per model input (as `run` generates them), in an
      .npz keyed by input name, for calibrating full-integer quantization.
  accuracy [--threads N] [--resolver R] MODEL X.npy Y.npy
      Top-1 accuracy over the samples of X (first axis), run one at a time.
  signature [--key K] MODEL INPUTS.npz OUT.npz
      Runs each sample of INPUTS.npz (keyed by the signature's input names,
      sample axis first; a float array fed to an integer input is quantized
      with its parameters) through the signature runner for key K (default:
      the only or `serving_default` signature), and writes the outputs keyed
      by output name, sample axis first, dequantized to float32. Prints the
      model's signature list.

--resolver: default (the interpreter's default, XNNPACK delegate applied),
builtin (optimized kernels, no default delegate) or reference (TFLite's
reference kernels). --threads defaults to 1.
"""

import argparse
import json
import os
import sys

import numpy as np


def _fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


RESOLVERS = {
    # The interpreter's default: optimized kernels, XNNPACK delegate applied.
    "default": "AUTO",
    # Optimized built-in kernels without the default (XNNPACK) delegate.
    "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    # TFLite's reference kernels (slow, the plainest arithmetic).
    "reference": "BUILTIN_REF",
}


def _interpreter(model_path, threads=1, resolver="default"):
    # Imported lazily so that `oracle.py --help` works without the package.
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=model_path,
        num_threads=threads,
        experimental_op_resolver_type=getattr(OpResolverType, RESOLVERS[resolver]),
    )
    interp.allocate_tensors()
    return interp


def _qparams(detail):
    scale, zp = detail["quantization"]
    return float(scale), int(zp)


def _is_int(dtype):
    return np.issubdtype(np.dtype(dtype), np.integer)


def _quantize(x, dtype, scale, zp):
    info = np.iinfo(dtype)
    q = np.round(x.astype(np.float64) / scale + zp)
    return np.clip(q, info.min, info.max).astype(dtype)


def _dequantize(x, scale, zp):
    if _is_int(x.dtype) and scale != 0.0:
        return ((x.astype(np.float64) - zp) * scale).astype(np.float32)
    return x.astype(np.float32)


def _adapt_input(arr, detail, source=None):
    """Make an input array fit a model input's dtype.

    `source` is the first model's detail for the same input: an integer array
    that matches a quantized first-model input is dequantized with its
    (scale, zero_point) before it is fed to a float input.
    """
    want = np.dtype(detail["dtype"])
    if arr.dtype == want:
        return arr
    scale, zp = _qparams(detail)
    if np.issubdtype(arr.dtype, np.floating) and _is_int(want) and scale != 0.0:
        return _quantize(arr, want, scale, zp)
    if _is_int(arr.dtype) and np.issubdtype(want, np.floating):
        if source is not None and np.dtype(source["dtype"]) == arr.dtype:
            s_scale, s_zp = _qparams(source)
            if s_scale != 0.0:
                return _dequantize(arr, s_scale, s_zp).astype(want)
        return arr.astype(want)
    if _is_int(arr.dtype) and _is_int(want):
        info = np.iinfo(want)
        return np.clip(arr, info.min, info.max).astype(want)
    return arr.astype(want)


def _generate_input(detail, rng):
    dtype = np.dtype(detail["dtype"])
    shape = tuple(int(d) for d in detail["shape"])
    if np.issubdtype(dtype, np.floating):
        return rng.uniform(0.0, 1.0, shape).astype(dtype)
    if dtype in (np.dtype(np.int32), np.dtype(np.int64)):
        return rng.integers(0, 10, shape).astype(dtype)
    if dtype == np.dtype(np.bool_):
        return rng.integers(0, 2, shape).astype(np.bool_)
    if _is_int(dtype):
        info = np.iinfo(dtype)
        return rng.integers(int(info.min), int(info.max) + 1, shape).astype(dtype)
    raise ValueError(f"cannot generate input of dtype {dtype}")


def _detail_json(detail):
    scale, zp = _qparams(detail)
    return {
        "name": detail["name"],
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": [int(d) for d in detail["shape"]],
        "scale": scale,
        "zero_point": zp,
    }


def _set_inputs(interp, arrays, sources=None):
    details = interp.get_input_details()
    if len(details) != len(arrays):
        raise ValueError(f"model has {len(details)} inputs, {len(arrays)} given")
    resized = False
    for d, a in zip(details, arrays):
        if tuple(a.shape) != tuple(int(x) for x in d["shape"]):
            interp.resize_tensor_input(d["index"], list(a.shape))
            resized = True
    if resized:
        interp.allocate_tensors()
        details = interp.get_input_details()
    for i, (d, a) in enumerate(zip(details, arrays)):
        interp.set_tensor(d["index"], _adapt_input(a, d, sources[i] if sources else None))
    return details


def cmd_run(args):
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    first = _interpreter(args.models[0], args.threads, args.resolver)
    first_inputs = first.get_input_details()
    if args.inputs:
        arrays = []
        for i in range(len(first_inputs)):
            p = os.path.join(args.inputs, f"input_{i}.npy")
            if not os.path.exists(p):
                raise FileNotFoundError(f"missing {p}")
            arrays.append(np.load(p))
    else:
        rng = np.random.default_rng(args.seed)
        arrays = [_generate_input(d, rng) for d in first_inputs]
        for i, a in enumerate(arrays):
            np.save(os.path.join(out_dir, f"input_{i}.npy"), a)

    report = {"models": []}
    for k, model_path in enumerate(args.models):
        interp = first if k == 0 else _interpreter(model_path, args.threads, args.resolver)
        in_details = _set_inputs(interp, arrays, first_inputs)
        interp.invoke()
        mdir = os.path.join(out_dir, f"m{k}")
        os.makedirs(mdir, exist_ok=True)
        outputs = []
        for j, d in enumerate(interp.get_output_details()):
            raw = np.array(interp.get_tensor(d["index"]))
            scale, zp = _qparams(d)
            f_raw = os.path.join(mdir, f"output_{j}.npy")
            f_f32 = os.path.join(mdir, f"output_{j}.f32.npy")
            np.save(f_raw, raw)
            np.save(f_f32, _dequantize(raw, scale, zp))
            entry = _detail_json(d)
            entry["shape"] = list(raw.shape)
            entry["file"] = f_raw
            entry["file_f32"] = f_f32
            outputs.append(entry)
        report["models"].append(
            {
                "path": os.path.abspath(model_path),
                "inputs": [_detail_json(d) for d in in_details],
                "outputs": outputs,
            }
        )
    return report


def _s(b):
    if b is None:
        return None
    if isinstance(b, bytes):
        return b.decode("utf-8", errors="replace")
    return str(b)


def _ints(v):
    if v is None:
        return None
    return [int(x) for x in v]


def _list_or_none(v, conv):
    if v is None or len(v) == 0:
        return None
    return [conv(x) for x in v]


def cmd_schema(args):
    from ai_edge_litert import schema_py_generated as schema

    with open(args.model, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError("not a TFLite flatbuffer (no TFL3 identifier)")
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}

    codes = []
    for c in m.operatorCodes or []:
        codes.append(
            {
                "builtin": int(max(c.deprecatedBuiltinCode, c.builtinCode)),
                "custom": _s(c.customCode),
                "version": int(c.version),
            }
        )

    subgraphs = []
    for sg in m.subgraphs or []:
        tensors = []
        for t in sg.tensors or []:
            q = t.quantization
            tensors.append(
                {
                    "name": _s(t.name),
                    "type": type_names.get(t.type, str(t.type)),
                    "shape": _ints(t.shape) or [],
                    "shape_signature": _ints(t.shapeSignature),
                    "buffer": int(t.buffer),
                    "scale": _list_or_none(q.scale if q else None, float),
                    "zero_point": _list_or_none(q.zeroPoint if q else None, int),
                    "quantized_dimension": int(q.quantizedDimension) if q else 0,
                    "is_variable": bool(t.isVariable),
                    "sparse": t.sparsity is not None,
                }
            )
        operators = []
        for op in sg.operators or []:
            operators.append(
                {
                    "opcode_index": int(op.opcodeIndex),
                    "inputs": _ints(op.inputs) or [],
                    "outputs": _ints(op.outputs) or [],
                    "builtin_options_type": int(op.builtinOptionsType),
                    "custom_options": _ints(op.customOptions),
                }
            )
        subgraphs.append(
            {
                "name": _s(sg.name),
                "inputs": _ints(sg.inputs) or [],
                "outputs": _ints(sg.outputs) or [],
                "tensors": tensors,
                "operators": operators,
            }
        )

    sigs = []
    for sd in m.signatureDefs or []:
        sigs.append(
            {
                "key": _s(sd.signatureKey),
                "subgraph_index": int(sd.subgraphIndex),
                "inputs": {_s(tm.name): int(tm.tensorIndex) for tm in sd.inputs or []},
                "outputs": {_s(tm.name): int(tm.tensorIndex) for tm in sd.outputs or []},
            }
        )

    return {
        "version": int(m.version),
        "description": _s(m.description),
        "operator_codes": codes,
        "subgraphs": subgraphs,
        "buffers": len(m.buffers or []),
        "metadata": [{"name": _s(md.name), "buffer": int(md.buffer)} for md in m.metadata or []],
        "signature_defs": sigs,
    }


def cmd_calib(args):
    """Writes N generated samples per model input (the same generator as `run`) to an .npz keyed by input name."""
    interp = _interpreter(args.model)
    rng = np.random.default_rng(args.seed)
    arrays = {}
    for d in interp.get_input_details():
        samples = [_generate_input(d, rng) for _ in range(args.n)]
        # Stack along a new sample axis; a batch-1 input [1, ...] gives [N, ...].
        arr = np.stack([s[0] if s.shape[:1] == (1,) else s for s in samples])
        arrays[d["name"]] = arr
    np.savez(args.out, **arrays)
    return {"out": args.out, "inputs": {k: list(v.shape) for k, v in arrays.items()}}


def cmd_signature(args):
    interp = _interpreter(args.model)
    sigs = interp.get_signature_list()
    key = args.key or ("serving_default" if "serving_default" in sigs else next(iter(sigs)))
    runner = interp.get_signature_runner(key)
    in_details = runner.get_input_details()
    out_details = runner.get_output_details()
    data = np.load(args.inputs)
    n = len(data[next(iter(data.files))])
    outs = {k: [] for k in out_details}
    for i in range(n):
        feed = {}
        for name, d in in_details.items():
            x = data[name][i : i + 1]
            if x.shape != tuple(d["shape"]) and x[0].shape == tuple(d["shape"]):
                x = x[0]
            feed[name] = _adapt_input(x, d)
        res = runner(**feed)
        for k, d in out_details.items():
            scale, zp = _qparams(d)
            outs[k].append(_dequantize(np.array(res[k]), scale, zp))
    np.savez(args.out, **{k: np.stack(v) for k, v in outs.items()})
    return {"signatures": sigs, "key": key, "samples": n}


def cmd_accuracy(args):
    x = np.load(args.x)
    y = np.load(args.y)
    if y.ndim > 1:
        y = np.argmax(y.reshape(len(y), -1), axis=1)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} samples but {len(y)} labels")
    interp = _interpreter(args.model, args.threads, args.resolver)
    correct = 0
    for i in range(len(x)):
        _set_inputs(interp, [x[i : i + 1]])
        interp.invoke()
        d = interp.get_output_details()[0]
        out = interp.get_tensor(d["index"])
        # Dequantizing keeps the order (positive scale), argmax is enough.
        correct += int(np.argmax(out.reshape(-1)) == int(y[i]))
    n = len(x)
    return {"accuracy": correct / n if n else 0.0, "n": n}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="run models on shared inputs, save outputs")
    r.add_argument("--out", required=True)
    r.add_argument("--inputs")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--resolver", choices=sorted(RESOLVERS), default="default")
    r.add_argument("models", nargs="+")

    s = sub.add_parser("schema", help="dump the flatbuffer structure as JSON")
    s.add_argument("model")

    c = sub.add_parser("calib", help="write generated calibration samples as .npz")
    c.add_argument("--n", type=int, default=16)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("model")
    c.add_argument("out")

    a = sub.add_parser("accuracy", help="top-1 accuracy on labelled samples")
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--resolver", choices=sorted(RESOLVERS), default="default")
    a.add_argument("model")
    a.add_argument("x")
    a.add_argument("y")

    g = sub.add_parser("signature", help="run samples through a signature runner")
    g.add_argument("--key")
    g.add_argument("model")
    g.add_argument("inputs")
    g.add_argument("out")

    args = p.parse_args(argv)
    try:
        if args.cmd == "run":
            result = cmd_run(args)
        elif args.cmd == "schema":
            result = cmd_schema(args)
        elif args.cmd == "calib":
            result = cmd_calib(args)
        elif args.cmd == "signature":
            result = cmd_signature(args)
        else:
            result = cmd_accuracy(args)
    except Exception as e:  # one-line error for the Rust side
        msg = str(e).strip().splitlines()
        _fail(f"{type(e).__name__}: {' | '.join(l.strip() for l in msg if l.strip())}")
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
