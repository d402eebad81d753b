//! Fusions on the lowered graph, as TF's `optimize` pass does them: a
//! reshape that only flattens into FULLY_CONNECTED goes; a constant ADD/SUB
//! after conv/depthwise/FC/transpose-conv folds into the bias, a constant
//! MUL/DIV into weights and bias (this is how batch norm disappears); RELU,
//! RELU6 and RELU_N1_TO_1 become the producer's fused activation.

use super::consts::Const;
use super::proto::DataType;
use super::{tflite_type, G};
use crate::ops::{self, Absorbs, OpDef, OpSignature, TensorSig};
use crate::schema::{ActivationFunctionType, BuiltinOperator as B, BuiltinOptionsT};

fn def(code: B) -> Option<&'static OpDef> {
    ops::registry().builtin(code)
}

/// The fused activation of an op's options, when the op takes one.
fn fused_activation(code: B, o: &BuiltinOptionsT) -> Option<ActivationFunctionType> {
    def(code)?.fused_activation(o)
}

fn set_fused_activation(code: B, o: &mut BuiltinOptionsT, a: ActivationFunctionType) {
    if let Some(f) = def(code).and_then(|d| d.activation) {
        (f.set)(o, a);
    }
}

/// The weights slot and channel axis, and the bias slot, of an op with per-channel weights and a bias.
fn affine_slots(code: B) -> Option<(usize, usize, usize)> {
    let d = def(code)?;
    let (w, axis) = d.weights()?;
    Some((w, axis?, d.bias()?))
}

mod tf2;

pub(crate) fn run(g: &mut G) {
    loop {
        let mut changed = tf2::dedup(g);
        changed |= tf2::div_to_mul(g);
        changed |= tf2::fold_pad_into_conv(g);
        changed |= tf2::clamps_to_relu(g);
        changed |= drop_flatten_reshape(g);
        changed |= tf2::fc_keep_num_dims(g);
        changed |= tf2::collapse_reshapes(g);
        while fold_into_affine(g) {
            changed = true;
        }
        changed |= fuse_activation(g);
        changed |= tf2::add_through_reshape(g);
        changed |= tf2::drop_identity_mul(g);
        if !changed {
            changed = tf2::fold_into_following_fc(g);
        }
        if !changed {
            break;
        }
    }
    set_versions(g);
}

fn const_of(g: &G, t: i32) -> Option<&Const> {
    if t < 0 {
        return None;
    }
    g.tensors.get(t as usize).and_then(|t| t.data.as_ref())
}

/// RESHAPE to [b, k] read only by FULLY_CONNECTED ops whose weights are [_, k].
fn drop_flatten_reshape(g: &mut G) -> bool {
    let cons = g.consumers();
    let mut changed = false;
    for r in 0..g.ops.len() {
        let op = &g.ops[r];
        if op.dead || op.code != B::RESHAPE {
            continue;
        }
        let (x, o) = (op.inputs[0], op.outputs[0]);
        let os = &g.tensors[o].shape;
        if g.is_output(o) || os.len() != 2 || cons[o].is_empty() || const_of(g, x).is_some() {
            continue;
        }
        let ok = cons[o].iter().all(|&c| {
            let fc = &g.ops[c];
            fc.code == B::FULLY_CONNECTED
                && fc.inputs[0] == o as i32
                && fc.inputs[1..].iter().all(|&i| i != o as i32)
                && const_of(g, fc.inputs[1]).is_some_and(|w| w.shape.len() == 2 && w.shape[1] == os[1])
        });
        if !ok {
            continue;
        }
        for &c in &cons[o] {
            g.ops[c].inputs[0] = x;
        }
        g.ops[r].dead = true;
        changed = true;
    }
    changed
}

/// The per-output-channel values of constant `c` for `oc` channels, when it
/// is a scalar or varies only along the last axis.
fn per_channel(c: &Const, oc: usize, out_rank: usize) -> Option<Vec<f32>> {
    if !c.is_float() || c.shape.len() > out_rank {
        return None;
    }
    let v = c.f32s();
    if v.len() == 1 {
        return Some(vec![v[0]; oc]);
    }
    let last = *c.shape.last()?;
    if last as usize == oc && v.len() == oc {
        return Some(v);
    }
    None
}

fn fold_into_affine(g: &mut G) -> bool {
    let mut changed = false;
    let mut cons = g.consumers();
    for p in 0..g.ops.len() {
        let (code, out, (w_slot, axis, b_slot)) = {
            let op = &g.ops[p];
            let Some(slots) = affine_slots(op.code).filter(|_| !op.dead) else { continue };
            if fused_activation(op.code, &op.opts) != Some(ActivationFunctionType::NONE) {
                continue;
            }
            (op.code, op.outputs[0], slots)
        };
        if g.is_output(out) || cons[out].len() != 1 {
            continue;
        }
        let c = cons[out][0];
        let cop = &g.ops[c];
        if !matches!(cop.code, B::ADD | B::SUB | B::MUL | B::DIV) {
            continue;
        }
        // The consumer's fused activation (if any) moves to the producer.
        let Some(act) = fused_activation(cop.code, &cop.opts) else { continue };
        if cop.inputs.len() != 2 || cop.inputs[0] == cop.inputs[1] {
            continue;
        }
        let slot = if cop.inputs[0] == out as i32 { 0 } else { 1 };
        if slot == 1 && matches!(cop.code, B::SUB | B::DIV) {
            continue;
        }
        if code == B::FULLY_CONNECTED && cop.code == B::SUB {
            continue;
        }
        let Some(k) = const_of(g, cop.inputs[1 - slot]) else { continue };
        let out_shape = g.tensors[out].shape.clone();
        if g.tensors[cop.outputs[0]].shape != out_shape || g.tensors[out].dtype != DataType::Float {
            continue;
        }
        let oc = *out_shape.last().unwrap_or(&0) as usize;
        let Some(kv) = per_channel(k, oc, out_shape.len()) else { continue };
        let Some(w) = const_of(g, g.ops[p].inputs[w_slot]).cloned() else { continue };
        let bias = g.ops[p].inputs.get(b_slot).and_then(|&b| const_of(g, b)).map(|b| b.f32s());
        if bias.as_ref().is_some_and(|b| b.len() != oc) {
            continue;
        }
        let cname = g.tensors[cop.outputs[0]].name.clone();
        let cop_code = cop.code;
        let new_out = cop.outputs[0];
        match cop_code {
            B::ADD
                if bias.is_none() && k.dtype == DataType::Float && k.shape == [oc as i64] && {
                    let kt = cop.inputs[1 - slot] as usize;
                    cons[kt] == [c] && !g.is_output(kt)
                } =>
            {
                // The added constant is the bias as it is: keep it, a view of
                // the input rather than a copy.
                let kt = g.ops[c].inputs[1 - slot] as usize;
                set_slot(g, p, b_slot, kt);
            }
            B::ADD | B::SUB => {
                let mut b = bias.unwrap_or_else(|| vec![0.0; oc]);
                for (bi, ki) in b.iter_mut().zip(&kv) {
                    *bi = if cop_code == B::ADD { *bi + ki } else { *bi - ki };
                }
                let bt = g.add_const(format!("{cname}/bias"), Const::from_f32(vec![oc as i64], &b));
                set_slot(g, p, b_slot, bt);
            }
            _ => {
                let f: Vec<f32> = if cop_code == B::DIV { kv.iter().map(|v| 1.0 / v).collect() } else { kv };
                let wv = w.f32s();
                // Output channels lie along the weights' channel axis: `inner` elements apart.
                if w.shape.get(axis) != Some(&(oc as i64)) || wv.len() % oc.max(1) != 0 {
                    continue;
                }
                let inner = w.shape[axis + 1..].iter().product::<i64>().max(1) as usize;
                let mut scaled: Vec<f32> = Vec::with_capacity(wv.len());
                for block in wv.chunks_exact(oc * inner) {
                    for (ch, run) in block.chunks_exact(inner).enumerate() {
                        scaled.extend(run.iter().map(|&v| v * f[ch]));
                    }
                }
                drop(wv);
                let old_w = g.ops[p].inputs[w_slot] as usize;
                let wname = g.tensors[old_w].name.clone();
                let wt = g.add_const(wname, Const::from_f32(w.shape.clone(), &scaled));
                drop(scaled);
                set_slot(g, p, w_slot, wt);
                // The unscaled weights are dead now: free them (a transposed
                // copy) instead of holding two copies of every conv's weights.
                drop(w);
                if cons[old_w] == [p] && !g.is_output(old_w) {
                    g.tensors[old_w].data = None;
                }
                if let Some(b) = bias {
                    let b: Vec<f32> = b.iter().zip(&f).map(|(b, f)| b * f).collect();
                    let bt = g.add_const(format!("{cname}/bias"), Const::from_f32(vec![oc as i64], &b));
                    set_slot(g, p, b_slot, bt);
                }
            }
        }
        g.ops[p].outputs[0] = new_out;
        set_fused_activation(code, &mut g.ops[p].opts, act);
        g.ops[c].dead = true;
        changed = true;
        cons = g.consumers();
    }
    changed
}

fn set_slot(g: &mut G, op: usize, slot: usize, t: usize) {
    let inputs = &mut g.ops[op].inputs;
    while inputs.len() <= slot {
        inputs.push(-1);
    }
    inputs[slot] = t as i32;
}

fn fuse_activation(g: &mut G) -> bool {
    let mut changed = false;
    let prods = g.producers();
    let mut cons = g.consumers();
    for a in 0..g.ops.len() {
        let act = match g.ops[a].code {
            B::RELU => ActivationFunctionType::RELU,
            B::RELU6 => ActivationFunctionType::RELU6,
            B::RELU_N1_TO_1 => ActivationFunctionType::RELU_N1_TO_1,
            _ => continue,
        };
        if g.ops[a].dead {
            continue;
        }
        let t = g.ops[a].inputs[0];
        if t < 0 {
            continue;
        }
        let t = t as usize;
        let Some(p) = prods[t] else { continue };
        let pop = &g.ops[p];
        if pop.dead || g.is_output(t) || cons[t].len() != 1 {
            continue;
        }
        let absorbs = def(pop.code).and_then(|d| d.activation).map(|f| f.absorbs);
        let has_bias =
            || def(pop.code).and_then(OpDef::bias).is_some_and(|b| pop.inputs.get(b).is_some_and(|&t| t >= 0));
        let ok = match absorbs {
            Some(Absorbs::Always) => true,
            Some(Absorbs::WithBias) => has_bias(),
            _ => false,
        };
        if !ok || fused_activation(pop.code, &pop.opts) != Some(ActivationFunctionType::NONE) || pop.outputs.len() != 1
        {
            continue;
        }
        let new_out = g.ops[a].outputs[0];
        let code = pop.code;
        set_fused_activation(code, &mut g.ops[p].opts, act);
        g.ops[p].outputs[0] = new_out;
        g.ops[a].dead = true;
        changed = true;
        cons = g.consumers();
    }
    changed
}

/// The versions the lowered ops need, from the op registry.
fn set_versions(g: &mut G) {
    for i in 0..g.ops.len() {
        let op = &g.ops[i];
        let Some(d) = def(op.code) else { continue };
        let sig_of = |t: usize| {
            let t = &g.tensors[t];
            TensorSig { dtype: tflite_type(t.dtype), rank: t.shape.len(), per_channel: false, scale: None }
        };
        let sig = OpSignature {
            inputs: op.inputs.iter().map(|&t| usize::try_from(t).ok().map(sig_of)).collect(),
            outputs: op.outputs.iter().map(|&t| sig_of(t)).collect(),
            options: &op.opts,
        };
        g.ops[i].version = (d.version)(&sig);
    }
}
