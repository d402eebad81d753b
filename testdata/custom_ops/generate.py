#!/usr/bin/env python3
"""Single-op models of the custom ops tflq runs, with inputs and numpy reference outputs.

Run with the generator venv (numpy, flatbuffers and ai-edge-litert's schema module):

    .venv-gen/bin/python testdata/custom_ops/generate.py

For each case NAME it writes, beside this script:
    NAME.tflite            one custom operator (MediaPipe's or TFLite_Detection_PostProcess)
    NAME.in{i}.npy         its inputs (the subgraph's inputs, in order)
    NAME.out{j}.npy        the expected outputs, computed here in numpy
and cases.json, which lists every case (op, which outputs are indices to compare exactly,
and for the detection cases the slots LiteRT writes), and bad_options.json: options (hex)
that the kernels must refuse, for tests/custom_ops.rs to put on these models.

The references are written from the ops' published semantics (MediaPipe's
mediapipe/util/tflite/operations/*.cc, LiteRT's detection_postprocess.cc), in a different
form where one exists: the transposed convolution as a full convolution cropped, pooling with
-inf padding and argmax, the landmark matrices as 4x4 float64 products, regular NMS as one
global sort. Everything is seeded; a rerun writes the same bytes.
"""

import json
import math
import os

import flatbuffers
import numpy as np
from flatbuffers import flexbuffers

from ai_edge_litert import schema_py_generated as S

HERE = os.path.dirname(os.path.abspath(__file__))
F32 = np.float32


# ---------------------------------------------------------------------------------------------
# Model building


def flex(items):
    """A flexbuffer map from (key, value) pairs: ints, floats (stored as float32), bools,
    strings and int lists (typed vectors)."""
    b = flexbuffers.Builder()
    with b.Map():
        for k, v in items:
            if isinstance(v, bool):
                b.Bool(k, v)
            elif isinstance(v, int):
                b.Int(k, v)
            elif isinstance(v, float):
                b.Float(k, v, byte_width=4)
            elif isinstance(v, str):
                b.String(k, v)
            elif isinstance(v, list):
                b.TypedVectorFromElements(k, v, element_type=flexbuffers.Type.INT)
            else:
                raise TypeError(v)
    return bytes(b.Finish())


def raw(*fields):
    """A raw C struct of little-endian int32 fields."""
    return np.array(fields, dtype="<i4").tobytes()


TYPES = {np.dtype(np.float32): S.TensorType.FLOAT32, np.dtype(np.uint8): S.TensorType.UINT8}


def tensor(name, shape, dtype, buffer, quant=None):
    t = S.TensorT()
    t.name = name
    t.shape = list(shape)
    t.type = TYPES[np.dtype(dtype)]
    t.buffer = buffer
    if quant is not None:
        q = S.QuantizationParametersT()
        q.scale = [float(quant[0])]
        q.zeroPoint = [int(quant[1])]
        t.quantization = q
    return t


def build(op, version, inputs, consts, outputs, options):
    """A model with one custom op. `inputs` and `consts` are (name, array, quant) in operand
    order (inputs first, then constants); `outputs` are (name, stored shape)."""
    m = S.ModelT()
    m.version = 3
    m.description = "tflq custom-op test: " + op
    code = S.OperatorCodeT()
    code.builtinCode = S.BuiltinOperator.CUSTOM
    code.deprecatedBuiltinCode = S.BuiltinOperator.CUSTOM
    code.customCode = op
    code.version = version
    m.operatorCodes = [code]
    m.buffers = [S.BufferT()]
    sg = S.SubGraphT()
    sg.name = "main"
    sg.tensors = []
    for name, arr, quant in inputs:
        sg.tensors.append(tensor(name, arr.shape, arr.dtype, 0, quant))
    for name, arr, quant in consts:
        buf = S.BufferT()
        buf.data = list(np.ascontiguousarray(arr).tobytes())
        m.buffers.append(buf)
        sg.tensors.append(tensor(name, arr.shape, arr.dtype, len(m.buffers) - 1, quant))
    n_in = len(inputs) + len(consts)
    for name, shape in outputs:
        sg.tensors.append(tensor(name, shape, np.float32, 0))
    sg.inputs = list(range(len(inputs)))
    sg.outputs = list(range(n_in, n_in + len(outputs)))
    o = S.OperatorT()
    o.opcodeIndex = 0
    o.inputs = list(range(n_in))
    o.outputs = list(sg.outputs)
    o.customOptions = list(options)
    o.customOptionsFormat = S.CustomOptionsFormat.FLEXBUFFERS
    sg.operators = [o]
    m.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


CASES = []


def case(name, op, version, inputs, consts, outputs, options, expected, exact=(), detection=None):
    """Writes one case. `outputs` are (name, stored shape); `expected` the reference arrays."""
    with open(os.path.join(HERE, name + ".tflite"), "wb") as f:
        f.write(build(op, version, inputs, consts, outputs, options))
    for i, (_, arr, _) in enumerate(inputs):
        np.save(os.path.join(HERE, f"{name}.in{i}.npy"), arr)
    for j, arr in enumerate(expected):
        np.save(os.path.join(HERE, f"{name}.out{j}.npy"), np.asarray(arr, dtype=F32))
    entry = {"name": name, "op": op, "inputs": len(inputs), "outputs": len(expected), "exact": list(exact)}
    if detection is not None:
        entry["detection"] = detection
    CASES.append(entry)


# ---------------------------------------------------------------------------------------------
# Convolution2DTransposeBias: raw TfLiteTransposeConvParams (padding, stride_w, stride_h)


def tconv_ref(x, w, b, same, sh, sw):
    n, h, wd, c = x.shape
    o, kh, kw, _ = w.shape
    ph = max(0, kh - (h - 1) % sh - 1) if same else 0
    pw = max(0, kw - (wd - 1) % sw - 1) if same else 0
    oh, ow = sh * (h - 1) + kh - ph, sw * (wd - 1) + kw - pw
    # The full (unpadded) transposed convolution, then the crop that padding removes.
    full = np.zeros((n, sh * (h - 1) + kh, sw * (wd - 1) + kw, o))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    for ky in range(kh):
        for kx in range(kw):
            full[:, ky : ky + sh * (h - 1) + 1 : sh, kx : kx + sw * (wd - 1) + 1 : sw, :] += np.einsum(
                "nhwc,oc->nhwo", x64, w64[:, ky, kx, :]
            )
    return full[:, ph // 2 : ph // 2 + oh, pw // 2 : pw // 2 + ow, :] + b


def tconv_cases():
    specs = [
        # name, x shape, (O, KH, KW), same, sh, sw, extra option fields
        ("tconv_same_s2_k3", (1, 5, 6, 3), (4, 3, 3), True, 2, 2, ()),
        ("tconv_valid_s1x2_k2", (2, 4, 3, 5), (3, 2, 2), False, 1, 2, ()),
        # Selfie-segmentation-like head: 2x2 stride 2 into one channel; the whole 20-byte struct.
        ("tconv_same_s2_k2_c1", (1, 6, 7, 8), (1, 2, 2), True, 2, 2, (0, 0)),
    ]
    for k, (name, xs, (o, kh, kw), same, sh, sw, extra) in enumerate(specs):
        rng = np.random.default_rng(100 + k)
        x = rng.uniform(-2, 2, xs).astype(F32)
        w = rng.uniform(-1, 1, (o, kh, kw, xs[3])).astype(F32)
        b = rng.uniform(-1, 1, (o,)).astype(F32)
        y = tconv_ref(x, w, b, same, sh, sw)
        opts = raw(1 if same else 2, sw, sh, *extra)
        case(name, "Convolution2DTransposeBias", 1, [("x", x, None)], [("w", w, None), ("b", b, None)],
             [("y", y.shape)], opts, [y])


# ---------------------------------------------------------------------------------------------
# MaxPoolingWithArgmax2D and MaxUnpooling2D: raw TfLitePoolParams
# (padding, stride_w, stride_h, filter_w, filter_h, activation)

CLAMPS = {0: (-np.inf, np.inf), 1: (0.0, np.inf), 2: (-1.0, 1.0), 3: (0.0, 6.0)}


def pool_out(same, size, f, s):
    return -(-size // s) if same else (size - f + s) // s


def argmax_ref(x, same, sh, sw, fh, fw, act):
    n, h, wd, c = x.shape
    oh, ow = pool_out(same, h, fh, sh), pool_out(same, wd, fw, sw)
    ph = max(0, (oh - 1) * sh + fh - h) // 2
    pw = max(0, (ow - 1) * sw + fw - wd) // 2
    # Padding with -inf never wins a window; argmax takes the first maximum in (fy, fx) order.
    big = np.full((n, ph + h + fh + sh * oh, pw + wd + fw + sw * ow, c), -np.inf, dtype=F32)
    big[:, ph : ph + h, pw : pw + wd, :] = x
    vals = np.zeros((n, oh, ow, c), F32)
    idx = np.zeros((n, oh, ow, c), F32)
    lo, hi = CLAMPS[act]
    for oy in range(oh):
        for ox in range(ow):
            win = big[:, oy * sh : oy * sh + fh, ox * sw : ox * sw + fw, :].reshape(n, fh * fw, c)
            k = np.argmax(win, axis=1)
            vals[:, oy, ox, :] = np.clip(np.max(win, axis=1), lo, hi)
            idx[:, oy, ox, :] = k.astype(F32) + F32(0.1)
    return vals, idx


def unpool_ref(x, ind, sh, sw, fh, fw):
    n, h, wd, c = x.shape
    oh, ow = h * fh, wd * fw
    ph = max(0, (h - 1) * sh + fh - oh) // 2
    pw = max(0, (wd - 1) * sw + fw - ow) // 2
    y = np.zeros((n, oh, ow, c), F32)
    for b in range(n):
        for i in range(h):
            for j in range(wd):
                for ch in range(c):  # in this order: a later write wins
                    k = int(ind[b, i, j, ch])
                    y[b, i * sh - ph + k // fw, j * sw - pw + k % fw, ch] = x[b, i, j, ch]
    return y


def pool_cases():
    specs = [
        # name, x shape, same, (fh, fw), (sh, sw), activation, value range
        ("argmax_same_f3_s2", (1, 7, 6, 3), True, (3, 3), (2, 2), 0, (-3, 3)),
        ("argmax_valid_f2_s2_relu6", (1, 6, 8, 4), False, (2, 2), (2, 2), 3, (-3, 9)),
        ("argmax_same_f2x3_s1x2_relu", (2, 5, 7, 2), True, (2, 3), (1, 2), 1, (-3, 3)),
    ]
    for k, (name, xs, same, (fh, fw), (sh, sw), act, (lo, hi)) in enumerate(specs):
        rng = np.random.default_rng(200 + k)
        x = rng.uniform(lo, hi, xs).astype(F32)
        v, i = argmax_ref(x, same, sh, sw, fh, fw, act)
        opts = raw(1 if same else 2, sw, sh, fw, fh, act)
        case(name, "MaxPoolingWithArgmax2D", 1, [("x", x, None)], [], [("values", v.shape), ("indices", i.shape)],
             opts, [v, i], exact=[1])
    unspecs = [
        ("unpool_f2_s2", (1, 3, 4, 3), (2, 2), (2, 2)),
        # Windows overlap: a later input wins where two land on one output.
        ("unpool_f3_s2_overlap", (1, 3, 3, 2), (3, 3), (2, 2)),
        ("unpool_f2x3_s2x3", (2, 2, 3, 2), (2, 3), (2, 3)),
    ]
    for k, (name, xs, (fh, fw), (sh, sw)) in enumerate(unspecs):
        rng = np.random.default_rng(250 + k)
        x = rng.uniform(-3, 3, xs).astype(F32)
        ind = (rng.integers(0, fh * fw, xs).astype(F32) + F32(0.1)).astype(F32)
        y = unpool_ref(x, ind, sh, sw, fh, fw)
        opts = raw(1, sw, sh, fw, fh, 0)
        case(name, "MaxUnpooling2D", 1, [("x", x, None), ("indices", ind, None)], [], [("y", y.shape)], opts, [y])


# ---------------------------------------------------------------------------------------------
# TransformTensorBilinear (v2: output_height/output_width; v1: mode, output_size)


def affine(rng, scale, angle, tx, ty):
    """A 4x4 row-major matrix mapping (x, y, 0, 1) by a rotation, scale and shift."""
    c, s = math.cos(angle), math.sin(angle)
    m = np.eye(4)
    m[0, :2] = [scale * c, -scale * s]
    m[1, :2] = [scale * s, scale * c]
    m[0, 3], m[1, 3] = tx, ty
    m[:2, :2] *= rng.uniform(0.9, 1.1, (2, 2))
    return m.astype(F32).reshape(1, 4, 4)


def bilinear_ref(data, mat, oh, ow, centres):
    _, h, wd, c = data.shape
    r = mat.reshape(-1)[:8].astype(F32).copy()
    if centres:
        for k in (0, 4):
            r[k + 3] = F32(np.float64(r[k + 3]) + (np.float64(r[k]) * 0.5 + np.float64(r[k + 1]) * 0.5 - 0.5))
    gx, gy = np.meshgrid(np.arange(ow, dtype=F32), np.arange(oh, dtype=F32))
    tx = r[0] * gx + r[1] * gy + r[2] * F32(0) + r[3]
    ty = r[4] * gx + r[5] * gy + r[6] * F32(0) + r[7]
    inside = (tx >= 0) & (tx <= wd - 1) & (ty >= 0) & (ty <= h - 1)
    x0, y0 = np.floor(tx), np.floor(ty)
    fx, fy = (tx - x0).astype(np.float64)[..., None], (ty - y0).astype(np.float64)[..., None]
    # A zero border stands for the neighbours outside the image.
    pad = np.zeros((h + 2, wd + 2, c))
    pad[1:-1, 1:-1] = data[0]
    xi = np.clip(x0, -1, wd).astype(int) + 1
    yi = np.clip(y0, -1, h).astype(int) + 1
    q = lambda dy, dx: pad[np.clip(yi + dy, 0, h + 1), np.clip(xi + dx, 0, wd + 1)]
    upper = ((1 - fx) * q(0, 0) + fx * q(0, 1)).astype(F32).astype(np.float64)
    lower = ((1 - fx) * q(1, 0) + fx * q(1, 1)).astype(F32).astype(np.float64)
    out = (fy * lower + (1 - fy) * upper).astype(F32)
    out[~inside] = 0
    return out[None]


def bilinear_cases():
    specs = [
        # name, version, data shape, (oh, ow), stored output shape?, matrix
        ("ttb_v2", 2, (1, 10, 12, 3), (6, 7), True, (1.7, 0.35, 1.0, -0.5)),
        ("ttb_v2_shape_from_options", 2, (1, 8, 9, 2), (5, 4), False, (2.1, -0.2, 0.5, 1.0)),
        ("ttb_v1", 1, (1, 9, 7, 4), (6, 5), True, (1.2, 0.6, 2.0, -1.0)),
    ]
    for k, (name, version, ds, (oh, ow), stored, (sc, ang, tx, ty)) in enumerate(specs):
        rng = np.random.default_rng(300 + k)
        data = rng.uniform(-2, 2, ds).astype(F32)
        mat = affine(rng, sc, ang, tx, ty)
        y = bilinear_ref(data, mat, oh, ow, centres=version >= 2)
        if version >= 2:
            opts = flex([("output_height", oh), ("output_width", ow)])
        else:
            opts = flex([("mode", "bilinear"), ("output_size", [oh, ow])])
        shape = y.shape if stored else ()
        case(name, "TransformTensorBilinear", version, [("data", data, None), ("matrix", mat, None)], [],
             [("out", shape)], opts, [y])


# ---------------------------------------------------------------------------------------------
# TransformLandmarks (v2: [1, N, D], no options; v1: [1, H, W, C], dimensions and scale)


def landmarks_ref(x, mat, dims, scale):
    m = mat.reshape(-1)[:8].astype(np.float64)
    pts = x.reshape(-1, dims).astype(np.float64)
    out = pts.copy()
    out[:, 0] = m[0] * pts[:, 0] + m[1] * pts[:, 1] + m[3] * scale
    out[:, 1] = m[4] * pts[:, 0] + m[5] * pts[:, 1] + m[7] * scale
    return out.reshape(x.shape).astype(F32)


def landmarks_cases():
    specs = [
        # name, version, shape, dims, options
        ("tl_v2_d2", 2, (1, 20, 2), 2, None),
        ("tl_v2_d3", 2, (1, 15, 3), 3, None),
        ("tl_v1_d3_scale", 1, (1, 2, 3, 6), 3, [("dimensions", 3), ("scale", 0.5)]),
        ("tl_v1_d2_default_scale", 1, (1, 1, 4, 8), 2, [("dimensions", 2)]),
    ]
    for k, (name, version, shape, dims, opts) in enumerate(specs):
        rng = np.random.default_rng(400 + k)
        x = rng.uniform(0, 16, shape).astype(F32)
        mat = affine(rng, 3.0, 0.4 + 0.3 * k, 20.0, -7.0)
        scale = dict(opts or []).get("scale", 1.0)
        y = landmarks_ref(x, mat, dims, scale)
        case(name, "TransformLandmarks", version, [("landmarks", x, None), ("matrix", mat, None)], [],
             [("out", x.shape)], flex(opts) if opts else b"", [y])


# ---------------------------------------------------------------------------------------------
# Landmarks2TransformMatrix


def rot2(a):
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def m4(a2=None, shift=(0.0, 0.0), diag=(1.0, 1.0)):
    m = np.eye(4)
    if a2 is not None:
        m[:2, :2] = a2
    m[0, 0] *= diag[0]
    m[1, 1] *= diag[1]
    m[0, 3], m[1, 3] = shift
    return m


def l2m_v2_ref(lm, subset, left, right, target, oh, ow, sx, sy):
    p = lm.reshape(-1, 3)[:, :2].astype(np.float64)
    r = target - math.atan2(p[right, 1] - p[left, 1], p[right, 0] - p[left, 0])
    pts = p[subset] @ rot2(r).T
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    w, h = hi - lo
    cx, cy = rot2(-r) @ ((lo + hi) / 2)
    t = m4(shift=(cx, cy)) @ m4(rot2(-r)) @ m4(diag=(sx * w / ow, sy * h / oh)) @ m4(shift=(-ow / 2, -oh / 2))
    return t.astype(F32).reshape(1, 4, 4)


def l2m_v1_ref(lm, subset, left, right, in_hw, out_hw, rng_, mult):
    p = lm.reshape(-1, 3)[:, :2].astype(np.float64)
    a = -math.atan((p[right, 1] - p[left, 1]) / (p[right, 0] - p[left, 0]))
    pts = p[subset] @ rot2(a).T
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    bw, bh = (hi - lo) * mult
    mid = rot2(-a) @ ((lo + hi) / 2)
    scale = np.diag([bw / rng_, bh / rng_, 1.0])
    rotation = np.eye(3)
    rotation[:2, :2] = rot2(-a)
    rotation[:2, 2] = mid / rng_ * 2 - 1
    to_rel = np.array([[2 / (out_hw[1] - 1), 0, -1], [0, 2 / (out_hw[0] - 1), -1], [0, 0, 1]])
    ah, aw = (in_hw[0] - 1) / 2, (in_hw[1] - 1) / 2
    to_abs = np.array([[aw, 0, aw], [0, ah, ah], [0, 0, 1]])
    t = to_abs @ rotation @ scale @ to_rel
    out = np.zeros((4, 4))
    out[0] = [t[0, 0], t[0, 1], 0, t[0, 2]]
    out[1] = [t[1, 0], t[1, 1], 0, t[1, 2]]
    out[2] = [t[2, 0], t[2, 1], t[2, 2], 0]
    out[3] = [0, 0, 0, 1]
    return out.astype(F32).reshape(1, 4, 4)


def l2m_cases():
    specs = [
        # name, N, subset (odd lengths pair the last index with itself), left, right, target, (oh, ow), (sx, sy)
        ("l2m_v2_odd_subset", 30, [3, 9, 14, 21, 27, 5, 11], 2, 17, 0.3, (16, 12), (1.5, 1.3)),
        ("l2m_v2_even_subset", 24, [0, 4, 8, 12, 16, 20, 1, 5, 9, 23], 6, 7, 0.0, (16, 16), (1.5, 1.5)),
    ]
    for k, (name, n, subset, left, right, target, (oh, ow), (sx, sy)) in enumerate(specs):
        rng = np.random.default_rng(500 + k)
        lm = np.concatenate([rng.uniform(20, 170, (1, n, 2)), rng.uniform(-5, 5, (1, n, 1))], axis=2).astype(F32)
        y = l2m_v2_ref(lm, subset, left, right, target, oh, ow, sx, sy)
        opts = flex([
            ("left_rotation_idx", left), ("output_height", oh), ("output_width", ow),
            ("right_rotation_idx", right), ("scale_x", sx), ("scale_y", sy), ("subset_idxs", subset),
            ("target_rotation_radians", target),
        ])
        case(name, "Landmarks2TransformMatrix", 2, [("landmarks", lm, None)], [], [("matrix", (1, 4, 4))], opts, [y])
    rng = np.random.default_rng(520)
    n, subset, left, right = 30, [1, 8, 13, 22, 29], 4, 19
    lm = np.concatenate([rng.uniform(20, 170, (n, 2)), rng.uniform(-5, 5, (n, 1))], axis=1).astype(F32)
    lm = lm.reshape(1, 1, 1, 3 * n)
    y = l2m_v1_ref(lm, subset, left, right, (192, 192), (16, 16), 192, 1.5)
    opts = flex([
        ("bbox_size_multiplier", 1.5), ("dimensions", 3), ("input_hw", [192, 192]), ("landmarks_range", 192),
        ("left_rotation_idx", left), ("output_hw", [16, 16]), ("right_rotation_idx", right), ("subset", subset),
    ])
    case("l2m_v1", "Landmarks2TransformMatrix", 1, [("landmarks", lm, None)], [], [("matrix", (1, 4, 4))], opts, [y])


# ---------------------------------------------------------------------------------------------
# TFLite_Detection_PostProcess


def decode_ref(enc, anchors, scales):
    e, a = enc[0, :, :4].astype(np.float64), anchors.astype(np.float64)
    sy, sx, sh, sw = scales
    yc = (e[:, 0] / sy * a[:, 2] + a[:, 0]).astype(F32)
    xc = (e[:, 1] / sx * a[:, 3] + a[:, 1]).astype(F32)
    hh = (0.5 * np.exp(e[:, 2] / sh) * a[:, 2]).astype(F32)
    hw = (0.5 * np.exp(e[:, 3] / sw) * a[:, 3]).astype(F32)
    return np.stack([yc - hh, xc - hw, yc + hh, xc + hw], axis=1)


def iou_ref(a, b):
    area = lambda z: (z[2] - z[0]) * (z[3] - z[1])
    if area(a) <= 0 or area(b) <= 0:
        return F32(0)
    ih = max(F32(min(a[2], b[2]) - max(a[0], b[0])), F32(0))
    iw = max(F32(min(a[3], b[3]) - max(a[1], b[1])), F32(0))
    inter = F32(ih * iw)
    return F32(inter / F32(area(a) + area(b) - inter))


def nms_ref(boxes, scores, thr, iou_thr, limit):
    cand = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= thr]
    keep = []
    for i in cand:
        if len(keep) >= limit:
            break
        if all(iou_ref(boxes[i], boxes[j]) <= iou_thr for j in keep):
            keep.append(int(i))
    return keep


def detection_ref(boxes, scores, p):
    """Outputs of the op on float boxes [A,4] (decoded) and scores [A, C(+1)]."""
    d, k, nc = p["max_detections"], p["max_classes_per_detection"], p["num_classes"]
    off = scores.shape[1] - nc
    cls = scores[:, off:]
    ob, oc, os_ = np.zeros((d * k, 4), F32), np.zeros(d * k, F32), np.zeros(d * k, F32)
    if not p.get("use_regular_nms", False):
        per = min(k, nc)
        top = np.argsort(-cls, axis=1, kind="stable")[:, :per]
        best = cls[np.arange(len(cls)), top[:, 0]]
        sel = nms_ref(boxes, best, p["nms_score_threshold"], p["nms_iou_threshold"], d)
        for i, a in enumerate(sel):
            for j in range(per):
                ob[i * k + j], oc[i * k + j], os_[i * k + j] = boxes[a], top[a, j], cls[a, top[a, j]]
        num = len(sel)
    else:
        dpc = min(p.get("detections_per_class", 100), d)
        found = []  # (score, class, rank in class, anchor)
        for c in range(nc):
            sel = nms_ref(boxes, cls[:, c], p["nms_score_threshold"], p["nms_iou_threshold"], dpc)
            found += [(cls[a, c], c, r, a) for r, a in enumerate(sel)]
        found.sort(key=lambda t: (-t[0], t[1], t[2]))
        found = found[:d]
        for i, (s, c, _, a) in enumerate(found):
            ob[i], oc[i], os_[i] = boxes[a], c, s
        num = len(found)
    return [ob[None], oc[None], os_[None], np.array([num], F32)]


def anchors_grid(ny, nx, size):
    ys, xs = np.meshgrid((np.arange(ny) + 0.5) / ny, (np.arange(nx) + 0.5) / nx, indexing="ij")
    return np.stack([ys.ravel(), xs.ravel(), np.full(ny * nx, size), np.full(ny * nx, size)], axis=1)


def quantize(x, scale, zp):
    return np.clip(np.round(x / scale + zp), 0, 255).astype(np.uint8)


def dequantize(q, scale, zp, double=False):
    if double:
        return (np.float64(F32(scale)) * (q.astype(np.int64) - zp)).astype(F32)
    return ((q.astype(F32) - F32(zp)) * F32(scale)).astype(F32)


def detection_cases():
    scales = [("y_scale", 10.0), ("x_scale", 10.0), ("h_scale", 5.0), ("w_scale", 5.0)]
    specs = [
        # name, grid, num_classes, background, max_det, K, regular, dpc (None: key absent), score thr, box len, uint8
        ("det_fast_bg", (5, 8), 3, True, 6, 1, False, None, 0.3, 4, False),
        ("det_fast_nobg_k2_keypoints", (5, 8), 3, False, 5, 2, False, None, 0.3, 6, False),
        ("det_fast_k3_above_classes", (5, 6), 2, True, 4, 3, False, None, 0.2, 4, False),
        ("det_regular_bg_dpc3", (5, 8), 3, True, 7, 1, True, 3, 0.3, 4, False),
        ("det_regular_nobg_default_dpc", (4, 6), 2, False, 6, 1, True, None, 0.6, 4, False),
        ("det_uint8_fast_bg", (5, 8), 3, True, 5, 1, False, None, 0.3, 4, True),
        ("det_uint8_regular_bg", (5, 8), 2, True, 6, 1, True, 2, 0.3, 4, True),
    ]
    for k, (name, (ny, nx), nc, bg, d, kk, regular, dpc, thr, blen, u8) in enumerate(specs):
        rng = np.random.default_rng(600 + k)
        a = anchors_grid(ny, nx, 0.3).astype(F32)
        n = len(a)
        enc = np.concatenate([rng.normal(0, 1.5, (1, n, 2)), rng.normal(0, 0.8, (1, n, 2)),
                              rng.normal(0, 1, (1, n, blen - 4))], axis=2).astype(F32)
        sc = rng.uniform(0, 1, (1, n, nc + int(bg))).astype(F32)
        p = {"max_detections": d, "max_classes_per_detection": kk, "num_classes": nc,
             "nms_score_threshold": thr, "nms_iou_threshold": 0.5, "use_regular_nms": regular}
        items = [("max_detections", d), ("max_classes_per_detection", kk), ("nms_score_threshold", thr),
                 ("nms_iou_threshold", 0.5), ("num_classes", nc)] + scales
        if regular or k % 2:
            items.append(("use_regular_nms", regular))
        if dpc is not None:
            items.append(("detections_per_class", dpc))
            p["detections_per_class"] = dpc
        if u8:
            qb, qs, qa = (0.05, 128), (1 / 256, 0), (1 / 255, 0)
            enc_q, sc_q, a_q = quantize(enc, *qb), quantize(sc, *qs), quantize(a, *qa)
            boxes = decode_ref(dequantize(enc_q, *qb), dequantize(a_q, *qa), [v for _, v in scales])
            expected = detection_ref(boxes, dequantize(sc_q, *qs, double=True)[0], p)
            inputs = [("boxes", enc_q, qb), ("scores", sc_q, qs)]
            consts = [("anchors", a_q, qa)]
        else:
            boxes = decode_ref(enc, a, [v for _, v in scales])
            expected = detection_ref(boxes, sc[0], p)
            inputs = [("boxes", enc, None), ("scores", sc, None)]
            consts = [("anchors", a, None)]
        outputs = [("detection_boxes", ()), ("detection_classes", ()), ("detection_scores", ()), ("num_detections", ())]
        det = {"max_detections": d, "k": kk, "per_anchor": 1 if regular else min(kk, nc), "regular": regular}
        case(name, "TFLite_Detection_PostProcess", 1, inputs, consts, outputs, flex(items), expected,
             exact=[1, 3], detection=det)


def bad_options():
    scales = [("y_scale", 10.0), ("x_scale", 10.0), ("h_scale", 5.0), ("w_scale", 5.0)]
    det = [("max_detections", 6), ("max_classes_per_detection", 1), ("nms_score_threshold", 0.3),
           ("nms_iou_threshold", 0.5), ("num_classes", 3)] + scales
    l2m = [("left_rotation_idx", 2), ("output_height", 16), ("output_width", 12), ("right_rotation_idx", 17),
           ("scale_x", 1.5), ("scale_y", 1.3), ("subset_idxs", [3, 9, 14]), ("target_rotation_radians", 0.3)]
    l2m_v1 = [("bbox_size_multiplier", 1.5), ("dimensions", 3), ("input_hw", [192, 192]), ("landmarks_range", 192),
              ("left_rotation_idx", 4), ("output_hw", [16, 16]), ("right_rotation_idx", 19), ("subset", [1, 8])]

    def replace(items, key, value):
        return [(k, value if k == key else v) for k, v in items]

    bad = {
        "ttb_mode_nearest": [("mode", "nearest"), ("output_size", [6, 5])],
        "ttb_output_size_3": [("mode", "bilinear"), ("output_size", [6, 5, 1])],
        "tl_dimensions_4": [("dimensions", 4)],
        "tl_scale_0": [("dimensions", 3), ("scale", 0.0)],
        "l2m_negative_index": replace(l2m, "subset_idxs", [3, -1, 14]),
        "l2m_scale_x_0": replace(l2m, "scale_x", 0.0),
        "l2m_empty_subset": replace(l2m, "subset_idxs", []),
        "l2m_v1_dimensions_2": replace(l2m_v1, "dimensions", 2),
        "det_iou_1_5": replace(det, "nms_iou_threshold", 1.5),
        "det_k_0": replace(det, "max_classes_per_detection", 0),
        "det_regular_dpc_0": det + [("use_regular_nms", True), ("detections_per_class", 0)],
        "det_max_detections_string": replace(det, "max_detections", "6"),
    }
    return {k: flex(v).hex() for k, v in bad.items()}


def main():
    for f in os.listdir(HERE):
        if f.endswith((".tflite", ".npy")) or f in ("cases.json", "bad_options.json"):
            os.remove(os.path.join(HERE, f))
    tconv_cases()
    pool_cases()
    bilinear_cases()
    landmarks_cases()
    l2m_cases()
    detection_cases()
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump(CASES, f, indent=1)
        f.write("\n")
    with open(os.path.join(HERE, "bad_options.json"), "w") as f:
        json.dump(bad_options(), f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE))
    print(f"{len(CASES)} cases, {total} bytes in {HERE}")


if __name__ == "__main__":
    main()
