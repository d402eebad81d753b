//! Rewrites TF's converter does on TF2/Keras graphs, on the lowered graph:
//! identical ops computed twice are merged (TF's CSE); a constant ADD after a RESHAPE
//! that only splits the last dim of FULLY_CONNECTED goes into its bias (TF hoists the
//! add above the reshape); a DIV by a constant becomes a MUL by its reciprocal; and a
//! zero PAD before a VALID convolution becomes SAME padding when the pads are exactly
//! SAME's (TF 2.21 folds ZeroPadding2D((0,1),(0,1)) + 3x3 stride 2, not (1,1)); and
//! min/max clamps become RELU, RELU6 or RELU_N1_TO_1 (then fused activations).

use crate::graphdef::consts::Const;
use crate::graphdef::proto::DataType;
use crate::graphdef::G;
use crate::schema::{ActivationFunctionType as Act, BuiltinOperator as B, BuiltinOptionsT, Padding};
use std::collections::HashMap;

fn const_of(g: &G, t: i32) -> Option<&Const> {
    usize::try_from(t).ok().and_then(|t| g.tensors.get(t)).and_then(|t| t.data.as_ref())
}

/// Repoints every live reader of tensor `from` to `to`.
fn replace_uses(g: &mut G, from: usize, to: usize) {
    for op in g.ops.iter_mut().filter(|o| !o.dead) {
        for i in op.inputs.iter_mut() {
            if *i == from as i32 {
                *i = to as i32;
            }
        }
    }
}

/// Merges live ops with the same code, options and inputs (constants compared by value).
pub(crate) fn dedup(g: &mut G) -> bool {
    let mut changed = false;
    // Candidates share the op code and the first input that is not a constant (constants
    // compare by value), so each op is checked against a few, not all before it.
    let mut seen: HashMap<(i32, i32), Vec<usize>> = HashMap::new();
    for j in 0..g.ops.len() {
        if g.ops[j].dead || g.ops[j].outputs.iter().any(|&o| g.is_output(o)) {
            continue;
        }
        let same_input =
            |g: &G, a: i32, b: i32| a == b || matches!((const_of(g, a), const_of(g, b)), (Some(x), Some(y)) if x == y);
        let first = g.ops[j].inputs.iter().copied().find(|&t| const_of(g, t).is_none()).unwrap_or(-2);
        let key = (g.ops[j].code.0, first);
        let found = seen.get(&key).into_iter().flatten().copied().find(|&i| {
            let (a, b) = (&g.ops[i], &g.ops[j]);
            !a.dead
                && a.code == b.code
                && a.code != B::CUSTOM
                && a.opts == b.opts
                && a.inputs.len() == b.inputs.len()
                && a.outputs.len() == b.outputs.len()
                && a.inputs.iter().zip(&b.inputs).all(|(&x, &y)| same_input(g, x, y))
                && a.outputs.iter().zip(&b.outputs).all(|(&x, &y)| {
                    g.tensors[x].shape == g.tensors[y].shape && g.tensors[x].dtype == g.tensors[y].dtype
                })
        });
        match found {
            Some(i) => {
                let pairs: Vec<(usize, usize)> =
                    g.ops[j].outputs.iter().copied().zip(g.ops[i].outputs.clone()).collect();
                g.ops[j].dead = true;
                for (from, to) in pairs {
                    replace_uses(g, from, to);
                }
                changed = true;
            }
            None => seen.entry(key).or_default().push(j),
        }
    }
    changed
}

/// FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D → RESHAPE → ADD(constant spanning one
/// output row of channels): the constant, flattened, joins the bias and the RESHAPE
/// writes the result (Keras Dense on rank 3, Conv1D's squeeze before its bias).
pub(crate) fn add_through_reshape(g: &mut G) -> bool {
    let mut changed = false;
    // Links are recomputed only after a rewrite: per candidate the pass would be quadratic.
    let mut links = None;
    for r in 0..g.ops.len() {
        if g.ops[r].dead || g.ops[r].code != B::RESHAPE {
            continue;
        }
        let (cons, prods) = &*links.get_or_insert_with(|| (g.consumers(), g.producers()));
        let op = &g.ops[r];
        let (x, y) = (op.inputs[0], op.outputs[0]);
        let Ok(xu) = usize::try_from(x) else { continue };
        let Some(p) = prods[xu] else { continue };
        let pop = &g.ops[p];
        if cons[xu] != [r] || g.is_output(xu) || g.is_output(y) || cons[y].len() != 1 {
            continue;
        }
        let act = match &pop.opts {
            BuiltinOptionsT::FullyConnectedOptions(o) if pop.code == B::FULLY_CONNECTED => o.fused_activation_function,
            BuiltinOptionsT::Conv2DOptions(o) if pop.code == B::CONV_2D => o.fused_activation_function,
            BuiltinOptionsT::DepthwiseConv2DOptions(o) if pop.code == B::DEPTHWISE_CONV_2D => {
                o.fused_activation_function
            }
            _ => continue,
        };
        if act != Act::NONE {
            continue;
        }
        let a = cons[y][0];
        let aop = &g.ops[a];
        let BuiltinOptionsT::AddOptions(ao) = &aop.opts else { continue };
        if aop.code != B::ADD || ao.fused_activation_function != Act::NONE || aop.inputs.len() != 2 {
            continue;
        }
        let other = if aop.inputs[0] == y as i32 { aop.inputs[1] } else { aop.inputs[0] };
        let Some(k) = const_of(g, other).filter(|k| k.dtype == DataType::Float) else { continue };
        let (xs, ys) = (&g.tensors[xu].shape, &g.tensors[y].shape);
        let Some(&kdim) = xs.last() else { continue };
        // The constant spans exactly the trailing dims of the reshaped result that hold
        // one FULLY_CONNECTED output row (K values), so flattened it is a bias.
        let kshape: Vec<i64> = k.shape.iter().copied().skip_while(|&d| d == 1).collect();
        if kshape.len() > ys.len() || k.numel() as i64 != kdim || g.tensors[aop.outputs[0]].shape != *ys {
            continue;
        }
        let tail = &ys[ys.len() - kshape.len()..];
        if tail != &kshape[..] || tail.iter().product::<i64>() != kdim {
            continue;
        }
        let kv = k.f32s();
        let bias = pop.inputs.get(2).and_then(|&b| const_of(g, b)).map(|b| b.f32s());
        if bias.as_ref().is_some_and(|b| b.len() != kv.len()) {
            continue;
        }
        let b: Vec<f32> = match bias {
            Some(b) => b.iter().zip(&kv).map(|(b, k)| b + k).collect(),
            None => kv,
        };
        let out = aop.outputs[0];
        let name = g.tensors[out].name.clone();
        let bt = g.add_const(format!("{name}/bias"), Const::from_f32(vec![kdim], &b));
        let pin = &mut g.ops[p].inputs;
        while pin.len() < 3 {
            pin.push(-1);
        }
        pin[2] = bt as i32;
        g.ops[r].outputs[0] = out;
        g.ops[a].dead = true;
        changed = true;
        links = None;
    }
    changed
}

/// DIV by a float constant → MUL by its reciprocal (TF leaves no such DIV).
pub(crate) fn div_to_mul(g: &mut G) -> bool {
    let mut changed = false;
    for i in 0..g.ops.len() {
        let op = &g.ops[i];
        if op.dead || op.code != B::DIV || op.inputs.len() != 2 || const_of(g, op.inputs[0]).is_some() {
            continue;
        }
        let Some(c) = const_of(g, op.inputs[1]).filter(|c| c.dtype == DataType::Float) else { continue };
        let act = match &op.opts {
            BuiltinOptionsT::DivOptions(o) => o.fused_activation_function,
            _ => Act::NONE,
        };
        let inv: Vec<f32> = c.f32s().iter().map(|v| 1.0 / v).collect();
        let name = format!("{}/reciprocal", g.tensors[op.outputs[0]].name);
        let t = g.add_const(name, Const::from_f32(c.shape.clone(), &inv));
        let op = &mut g.ops[i];
        op.code = B::MUL;
        op.inputs[1] = t as i32;
        op.opts = BuiltinOptionsT::MulOptions(Box::new(crate::schema::MulOptionsT { fused_activation_function: act }));
        changed = true;
    }
    changed
}

/// The (before, after) padding SAME gives one spatial dim.
fn same_pads(input: i64, k: i64, s: i64, d: i64) -> (i64, i64) {
    let ek = (k - 1) * d + 1;
    let out = (input + s - 1) / s;
    let total = ((out - 1) * s + ek - input).max(0);
    (total / 2, total - total / 2)
}

/// PAD (zeros, spatial only) read only by VALID CONV_2D / DEPTHWISE_CONV_2D whose
/// SAME padding on the unpadded input is exactly these pads.
pub(crate) fn fold_pad_into_conv(g: &mut G) -> bool {
    let mut changed = false;
    let cons = g.consumers();
    for p in 0..g.ops.len() {
        let op = &g.ops[p];
        if op.dead || op.code != B::PAD || op.inputs.len() != 2 {
            continue;
        }
        let (x, y) = (op.inputs[0], op.outputs[0]);
        let Some(pads) = const_of(g, op.inputs[1]).map(|c| c.i64s()) else { continue };
        let Ok(xu) = usize::try_from(x) else { continue };
        let xs = g.tensors[xu].shape.clone();
        if xs.len() != 4 || pads.len() != 8 || pads[..2] != [0, 0] || pads[6..] != [0, 0] || g.is_output(y) {
            continue;
        }
        if cons[y].is_empty() {
            continue;
        }
        let ok = cons[y].iter().all(|&c| {
            let cop = &g.ops[c];
            if !matches!(cop.code, B::CONV_2D | B::DEPTHWISE_CONV_2D)
                || cop.inputs.len() < 2
                || cop.inputs[0] != y as i32
                || cop.inputs[1..].contains(&(y as i32))
            {
                return false;
            }
            let Some(w) = const_of(g, cop.inputs[1]).filter(|w| w.shape.len() == 4) else { return false };
            let (k, st, dil, pad) = match &cop.opts {
                BuiltinOptionsT::Conv2DOptions(o) if cop.code == B::CONV_2D => (
                    [w.shape[1], w.shape[2]],
                    [o.stride_h, o.stride_w],
                    [o.dilation_h_factor, o.dilation_w_factor],
                    o.padding,
                ),
                BuiltinOptionsT::DepthwiseConv2DOptions(o) if cop.code == B::DEPTHWISE_CONV_2D => (
                    [w.shape[1], w.shape[2]],
                    [o.stride_h, o.stride_w],
                    [o.dilation_h_factor, o.dilation_w_factor],
                    o.padding,
                ),
                _ => return false,
            };
            pad == Padding::VALID
                && (0..2).all(|i| {
                    same_pads(xs[1 + i], k[i], st[i] as i64, dil[i] as i64) == (pads[2 + 2 * i], pads[3 + 2 * i])
                })
        });
        if !ok {
            continue;
        }
        for &c in &cons[y] {
            let cop = &mut g.ops[c];
            cop.inputs[0] = x;
            match &mut cop.opts {
                BuiltinOptionsT::Conv2DOptions(o) => o.padding = Padding::SAME,
                BuiltinOptionsT::DepthwiseConv2DOptions(o) => o.padding = Padding::SAME,
                _ => {}
            }
        }
        g.ops[p].dead = true;
        changed = true;
    }
    changed
}

/// The scalar float constant among a binary op's inputs, with the other input.
fn scalar_and_other(g: &G, op: usize) -> Option<(f32, i32)> {
    let o = &g.ops[op];
    if o.inputs.len() != 2 {
        return None;
    }
    let sc = |t: i32| const_of(g, t).filter(|c| c.is_float() && c.numel() == 1).map(|c| c.f32s()[0]);
    match (sc(o.inputs[0]), sc(o.inputs[1])) {
        (Some(c), None) => Some((c, o.inputs[1])),
        (None, Some(c)) => Some((c, o.inputs[0])),
        _ => None,
    }
}

/// Clamps TF turns into activations: min(max(x, −1), 1) in either order → RELU_N1_TO_1,
/// min(max(x, 0), 6) → RELU6, max(x, 0) → RELU (min(max(x, 0), 1) keeps its MINIMUM).
pub(crate) fn clamps_to_relu(g: &mut G) -> bool {
    let mut changed = false;
    // Outer ops first, so a max(x, 0) inside a clamp is still a MAXIMUM.
    for i in (0..g.ops.len()).rev() {
        let code = g.ops[i].code;
        if g.ops[i].dead || !matches!(code, B::MINIMUM | B::MAXIMUM) {
            continue;
        }
        let Some((c, inner)) = scalar_and_other(g, i) else { continue };
        let out = g.ops[i].outputs[0];
        let Ok(iu) = usize::try_from(inner) else { continue };
        if g.tensors[iu].shape != g.tensors[out].shape || g.tensors[out].dtype != DataType::Float {
            continue;
        }
        let cons = g.consumers();
        let prods = g.producers();
        let single = cons[iu].len() == 1 && !g.is_output(iu);
        let p = prods[iu].filter(|&p| single && !g.ops[p].dead);
        let pair = p.and_then(|p| {
            let want = if code == B::MINIMUM { B::MAXIMUM } else { B::MINIMUM };
            (g.ops[p].code == want).then_some(p).and_then(|p| scalar_and_other(g, p).map(|(c2, x)| (p, c2, x)))
        });
        let new = match pair {
            Some((p, c2, x)) => {
                let (lo, hi) = if code == B::MINIMUM { (c2, c) } else { (c, c2) };
                let act = match (lo, hi) {
                    (-1.0, 1.0) => Some(B::RELU_N1_TO_1),
                    (0.0, 6.0) if code == B::MINIMUM => Some(B::RELU6),
                    _ => None,
                };
                act.map(|a| (a, x, Some(p)))
            }
            None => None,
        };
        let new = new.or_else(|| (code == B::MAXIMUM && c == 0.0).then_some((B::RELU, inner, None)));
        let Some((act, x, dead)) = new else { continue };
        if let Some(p) = dead {
            g.ops[p].dead = true;
        }
        let op = &mut g.ops[i];
        op.code = act;
        op.inputs = vec![x];
        op.opts = BuiltinOptionsT::NONE;
        changed = true;
    }
    changed
}

/// MUL or DIV by a scalar 1 (not a graph output): its readers read the other input.
pub(crate) fn drop_identity_mul(g: &mut G) -> bool {
    let mut changed = false;
    for i in 0..g.ops.len() {
        let op = &g.ops[i];
        if op.dead || !matches!(op.code, B::MUL | B::DIV) || g.is_output(op.outputs[0]) {
            continue;
        }
        let act = match &op.opts {
            BuiltinOptionsT::MulOptions(o) => o.fused_activation_function,
            BuiltinOptionsT::DivOptions(o) => o.fused_activation_function,
            _ => Act::NONE,
        };
        let Some((c, x)) = scalar_and_other(g, i) else { continue };
        let Ok(xu) = usize::try_from(x) else { continue };
        let out = op.outputs[0];
        let divisor_ok = op.code == B::MUL || op.inputs[1] != x;
        if c != 1.0 || act != Act::NONE || !divisor_ok || g.tensors[xu].shape != g.tensors[out].shape {
            continue;
        }
        g.ops[i].dead = true;
        replace_uses(g, out, xu);
        changed = true;
    }
    changed
}

/// ADD/SUB/MUL of a constant (scalar or one value per input feature) read only by
/// FULLY_CONNECTED ops as their input: folded into their weights and bias, as TF's
/// converter does when the op cannot join the producer before it.
pub(crate) fn fold_into_following_fc(g: &mut G) -> bool {
    let mut changed = false;
    // Links are recomputed only after a rewrite: per candidate the pass would be quadratic.
    let mut links = None;
    for i in 0..g.ops.len() {
        if g.ops[i].dead || !matches!(g.ops[i].code, B::ADD | B::SUB | B::MUL) || g.ops[i].inputs.len() != 2 {
            continue;
        }
        let (cons, _) = &*links.get_or_insert_with(|| (g.consumers(), g.producers()));
        let op = &g.ops[i];
        let act = match &op.opts {
            BuiltinOptionsT::AddOptions(o) => o.fused_activation_function,
            BuiltinOptionsT::SubOptions(o) => o.fused_activation_function,
            BuiltinOptionsT::MulOptions(o) => o.fused_activation_function,
            _ => Act::NONE,
        };
        let out = op.outputs[0];
        let (slot, k) = match (const_of(g, op.inputs[0]), const_of(g, op.inputs[1])) {
            (None, Some(k)) => (0, k),
            (Some(k), None) if op.code != B::SUB => (1, k),
            _ => continue,
        };
        let Ok(xu) = usize::try_from(op.inputs[slot]) else { continue };
        let xs = &g.tensors[xu].shape;
        let Some(&kdim) = xs.last() else { continue };
        if act != Act::NONE || g.is_output(out) || cons[out].is_empty() || g.tensors[out].shape != *xs {
            continue;
        }
        if !k.is_float() || !(k.numel() == 1 || (k.numel() as i64 == kdim && k.shape.last() == Some(&kdim))) {
            continue;
        }
        let kv: Vec<f32> = if k.numel() == 1 { vec![k.f32s()[0]; kdim as usize] } else { k.f32s() };
        let fcs_ok = cons[out].iter().all(|&c| {
            let f = &g.ops[c];
            let plain = matches!(&f.opts, BuiltinOptionsT::FullyConnectedOptions(o)
                if o.weights_format == crate::schema::FullyConnectedOptionsWeightsFormat::DEFAULT);
            f.code == B::FULLY_CONNECTED
                && plain
                && f.inputs[0] == out as i32
                && !f.inputs[1..].contains(&(out as i32))
                && const_of(g, f.inputs[1]).is_some_and(|w| w.is_float() && w.shape.len() == 2 && w.shape[1] == kdim)
                && f.inputs.get(2).map_or(true, |&b| b < 0 || const_of(g, b).is_some())
        });
        if !fcs_ok {
            continue;
        }
        let code = op.code;
        for c in cons[out].clone() {
            let w = const_of(g, g.ops[c].inputs[1]).unwrap();
            let (n, kk) = (w.shape[0] as usize, kdim as usize);
            let wv = w.f32s();
            let wname = g.tensors[g.ops[c].inputs[1] as usize].name.clone();
            if code == B::MUL {
                let scaled: Vec<f32> = wv.iter().enumerate().map(|(j, &v)| v * kv[j % kk]).collect();
                let wt = g.add_const(wname, Const::from_f32(vec![n as i64, kdim], &scaled));
                g.ops[c].inputs[1] = wt as i32;
            } else {
                let sign = if code == B::SUB { -1.0 } else { 1.0 };
                let old = g.ops[c].inputs.get(2).and_then(|&b| const_of(g, b)).map(|b| b.f32s());
                let mut b = old.unwrap_or_else(|| vec![0.0; n]);
                for (r, bv) in b.iter_mut().enumerate() {
                    *bv += sign * wv[r * kk..(r + 1) * kk].iter().zip(&kv).map(|(w, k)| w * k).sum::<f32>();
                }
                let bt = g.add_const(format!("{wname}/bias"), Const::from_f32(vec![n as i64], &b));
                let ins = &mut g.ops[c].inputs;
                while ins.len() < 3 {
                    ins.push(-1);
                }
                ins[2] = bt as i32;
            }
            g.ops[c].inputs[0] = xu as i32;
        }
        g.ops[i].dead = true;
        changed = true;
        links = None;
    }
    changed
}

/// FULLY_CONNECTED of a rank > 2 input (its flattening reshape dropped) whose result is
/// reshaped back to the input's leading dims: keep_num_dims, and the RESHAPE goes.
pub(crate) fn fc_keep_num_dims(g: &mut G) -> bool {
    let mut changed = false;
    let cons = g.consumers();
    for f in 0..g.ops.len() {
        let op = &g.ops[f];
        if op.dead || op.code != B::FULLY_CONNECTED || op.outputs.len() != 1 {
            continue;
        }
        let BuiltinOptionsT::FullyConnectedOptions(o) = &op.opts else { continue };
        let Ok(xu) = usize::try_from(op.inputs[0]) else { continue };
        let out = op.outputs[0];
        let xs = &g.tensors[xu].shape;
        if o.keep_num_dims || xs.len() <= 2 || g.is_output(out) || cons[out].len() != 1 {
            continue;
        }
        let r = cons[out][0];
        let rop = &g.ops[r];
        if rop.dead || rop.code != B::RESHAPE || rop.inputs[0] != out as i32 {
            continue;
        }
        let ys = &g.tensors[rop.outputs[0]].shape;
        let n = *g.tensors[out].shape.last().unwrap_or(&0);
        if ys.len() != xs.len() || ys[..ys.len() - 1] != xs[..xs.len() - 1] || ys.last() != Some(&n) {
            continue;
        }
        let new_out = rop.outputs[0];
        g.ops[r].dead = true;
        let op = &mut g.ops[f];
        if let BuiltinOptionsT::FullyConnectedOptions(o) = &mut op.opts {
            o.keep_num_dims = true;
        }
        op.outputs[0] = new_out;
        changed = true;
    }
    changed
}

/// RESHAPE of a RESHAPE (the inner one read only there) reads the first input; a RESHAPE
/// that changes nothing (not a graph output) goes.
pub(crate) fn collapse_reshapes(g: &mut G) -> bool {
    let mut changed = false;
    // Links are recomputed only after a rewrite: per candidate the pass would be quadratic.
    let mut links = None;
    for r in 0..g.ops.len() {
        if g.ops[r].dead || g.ops[r].code != B::RESHAPE {
            continue;
        }
        let (cons, prods) = &*links.get_or_insert_with(|| (g.consumers(), g.producers()));
        let op = &g.ops[r];
        let (x, y) = (op.inputs[0], op.outputs[0]);
        let Ok(xu) = usize::try_from(x) else { continue };
        if g.tensors[xu].shape == g.tensors[y].shape && !g.is_output(y) {
            g.ops[r].dead = true;
            replace_uses(g, y, xu);
            changed = true;
            links = None;
            continue;
        }
        let Some(p) = prods[xu] else { continue };
        if g.ops[p].code == B::RESHAPE && cons[xu] == [r] && !g.is_output(xu) {
            let src = g.ops[p].inputs[0];
            g.ops[r].inputs[0] = src;
            g.ops[p].dead = true;
            changed = true;
            links = None;
        }
    }
    changed
}
