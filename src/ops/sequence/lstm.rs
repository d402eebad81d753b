//! LSTM, UNIDIRECTIONAL_SEQUENCE_LSTM and BIDIRECTIONAL_SEQUENCE_LSTM: one float LSTM
//! direction ([`run`]) over operands read and checked by [`read_dir`], with the options
//! TFLite's full kernel has: CIFG (no input gate: it is 1 − forget), peepholes, projection
//! with its bias and clip, layer-norm coefficients, cell clip, diagonal recurrent weights,
//! and auxiliary inputs (bidirectional).
//!
//! A step, with ⊙ elementwise, σ the logistic function and `act` the op's activation:
//!   gate_g = x·W_gᵀ + aux·A_gᵀ + h·R_gᵀ (+ p_g ⊙ c for the input, forget and output gates)
//!   with layer norm: gate_g = normalize(gate_g) ⊙ L_g + b_g; otherwise gate_g + b_g
//!   i, f, o = σ(..), g = act(..), c = clip(f ⊙ c + i ⊙ g), the output gate seeing the new c
//!   h = o ⊙ act(c), then with projection h = clip(h·Pᵀ + b_p).

use super::{expect_inputs, matmul_acc, operand, repeat_rows, required, state, Seq};
use crate::ir::{Buf, Value};
use crate::kernels::Isa;
use crate::ops::util::{activate, checked_numel, f32s, opt_inp};
use crate::ops::{opts, KResult, OpDef, PrepareCtx, Prepared};
use crate::schema::{ActivationFunctionType as Act, BuiltinOperator as B, LSTMKernelType};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::LSTM).kernel(prepare_lstm));
    add(OpDef::builtin(B::UNIDIRECTIONAL_SEQUENCE_LSTM).kernel(prepare_unidirectional));
    add(OpDef::builtin(B::BIDIRECTIONAL_SEQUENCE_LSTM).kernel(prepare_bidirectional));
}

const I: usize = 0;
const F: usize = 1;
const C: usize = 2;
const O: usize = 3;
const GATES: [&str; 4] = ["input", "forget", "cell", "output"];

/// The operand slots of one LSTM direction.
struct Slots {
    prefix: &'static str,
    input_weights: [usize; 4],
    recurrent_weights: [usize; 4],
    /// Peephole weights of the input, forget and output gates.
    peepholes: [usize; 3],
    biases: [usize; 4],
    projection: [usize; 2],
    output_state: usize,
    cell_state: usize,
    layer_norm: Option<[usize; 4]>,
    aux_weights: Option<[usize; 4]>,
    /// Whether 1-D (diagonal) recurrent weights are accepted.
    diagonal: bool,
}

/// The slots of LSTM and UNIDIRECTIONAL_SEQUENCE_LSTM, and of the forward direction of
/// BIDIRECTIONAL_SEQUENCE_LSTM with `shift` 0 (its backward one has `shift` 17).
fn slots(prefix: &'static str, shift: usize, states: [usize; 2]) -> Slots {
    let s = |i: usize| i + shift;
    Slots {
        prefix,
        input_weights: [s(1), s(2), s(3), s(4)],
        recurrent_weights: [s(5), s(6), s(7), s(8)],
        peepholes: [s(9), s(10), s(11)],
        biases: [s(12), s(13), s(14), s(15)],
        projection: [s(16), s(17)],
        output_state: states[0],
        cell_state: states[1],
        layer_norm: None,
        aux_weights: None,
        diagonal: false,
    }
}

/// One direction's operands, checked against each other.
struct Dir<'a> {
    n_cell: usize,
    n_output: usize,
    input_weights: [Option<&'a [f32]>; 4],
    aux_weights: [Option<&'a [f32]>; 4],
    /// Recurrent weights, and whether they are diagonal ([n_cell], multiplied elementwise).
    recurrent: [Option<(&'a [f32], bool)>; 4],
    peepholes: [Option<&'a [f32]>; 4],
    biases: [Option<&'a [f32]>; 4],
    layer_norm: Option<[Option<&'a [f32]>; 4]>,
    projection: Option<(&'a [f32], Option<&'a [f32]>)>,
    h0: &'a [f32],
    c0: &'a [f32],
}

impl Dir<'_> {
    fn cifg(&self) -> bool {
        self.input_weights[I].is_none()
    }
}

/// The size of dimension `d` of the 1-D or 2-D operand in `slot`.
fn dim(ins: &[Option<&Value>], slot: usize, name: &str, d: usize, ranks: &[usize]) -> KResult<usize> {
    let v = opt_inp(ins, slot).ok_or_else(|| format!("{name} (input {slot}) is missing"))?;
    if !ranks.contains(&v.shape.len()) {
        return Err(format!("{name} (input {slot}) must have rank {ranks:?}, got shape {:?}", v.shape));
    }
    Ok(v.shape.get(d).copied().unwrap_or(0))
}

/// Reads and checks one direction's operands for inputs of `n_input` (and auxiliary inputs of
/// `n_aux`) features and `batch` rows per step.
fn read_dir<'a>(
    ins: &[Option<&'a Value>],
    s: &Slots,
    n_input: usize,
    n_aux: Option<usize>,
    batch: usize,
) -> KResult<Dir<'a>> {
    let p = s.prefix;
    let named = |what: String| move || format!("{p}{what}");
    let in_name = |g: usize| named(format!("input-to-{} weights", GATES[g]));
    let rec_name = |g: usize| named(format!("recurrent-to-{} weights", GATES[g]));
    let out_slot = s.input_weights[O];
    let n_cell = dim(ins, out_slot, &in_name(O)(), 0, &[2])?;
    let rec_ranks: &[usize] = if s.diagonal { &[1, 2] } else { &[2] };
    let rec_o = s.recurrent_weights[O];
    let diagonal_o = opt_inp(ins, rec_o).is_some_and(|v| v.shape.len() == 1);
    let n_output = dim(ins, rec_o, &rec_name(O)(), usize::from(!diagonal_o), rec_ranks)?;
    if n_cell == 0 || n_output == 0 {
        return Err(format!("{p}an LSTM needs cells and outputs, got {n_cell} and {n_output}"));
    }

    let mut input_weights = [None; 4];
    let mut recurrent = [None; 4];
    for g in [I, F, C, O] {
        let (slot, name) = (s.input_weights[g], in_name(g));
        input_weights[g] = if g == I {
            operand(ins, slot, &name, &[n_cell, n_input])?
        } else {
            Some(required(ins, slot, &name, &[n_cell, n_input])?)
        };
        let (slot, name) = (s.recurrent_weights[g], rec_name(g));
        let diagonal = s.diagonal && opt_inp(ins, slot).is_some_and(|v| v.shape.len() == 1);
        if diagonal && n_output != n_cell {
            return Err(format!(
                "{} (input {slot}) is diagonal, but there are {n_output} outputs for {n_cell} cells",
                name()
            ));
        }
        let shape: &[usize] = if diagonal { &[n_cell] } else { &[n_cell, n_output] };
        recurrent[g] =
            if g == I { operand(ins, slot, &name, shape)? } else { Some(required(ins, slot, &name, shape)?) }
                .map(|w| (w, diagonal));
    }
    let cifg = input_weights[I].is_none();
    if cifg != recurrent[I].is_none() {
        return Err(format!(
            "{p}input-to-input and recurrent-to-input weights must both be present or both omitted (CIFG)"
        ));
    }

    let mut peepholes = [None; 4];
    for (k, g) in [I, F, O].into_iter().enumerate() {
        let name = named(format!("cell-to-{} (peephole) weights", GATES[g]));
        peepholes[g] = operand(ins, s.peepholes[k], &name, &[n_cell])?;
    }
    if cifg {
        peepholes[I] = None;
    }
    let some = [F, O].iter().filter(|&&g| peepholes[g].is_some()).count() + usize::from(peepholes[I].is_some());
    if some != 0 && some != if cifg { 2 } else { 3 } {
        return Err(format!("{p}peephole weights must be present for every gate or for none"));
    }

    let mut biases = [None; 4];
    for g in [I, F, C, O] {
        let (slot, name) = (s.biases[g], named(format!("{} gate bias", GATES[g])));
        biases[g] = match (g, cifg) {
            (I, true) if opt_inp(ins, slot).is_some() => {
                return Err(format!("{} (input {slot}) must be omitted without input gate weights (CIFG)", name()));
            }
            (I, true) => None,
            _ => Some(required(ins, slot, &name, &[n_cell])?),
        };
    }

    let [pw, pb] = s.projection;
    let weights = operand(ins, pw, &named("projection weights".into()), &[n_output, n_cell])?;
    let bias = operand(ins, pb, &named("projection bias".into()), &[n_output])?;
    let projection = match (weights, bias) {
        (Some(w), b) => Some((w, b)),
        (None, Some(_)) => return Err(format!("{p}projection bias (input {pb}) without projection weights")),
        (None, None) if n_output != n_cell => {
            return Err(format!("{p}{n_output} outputs for {n_cell} cells need projection weights"));
        }
        (None, None) => None,
    };

    let layer_norm = match s.layer_norm {
        None => None,
        Some(slots) => {
            let mut coefficients = [None; 4];
            for g in [I, F, C, O] {
                let name = named(format!("{} layer-norm coefficients", GATES[g]));
                coefficients[g] = match (g, cifg) {
                    (I, true) if opt_inp(ins, slots[g]).is_some() => {
                        return Err(format!(
                            "{} (input {}) must be omitted without an input gate (CIFG)",
                            name(),
                            slots[g]
                        ));
                    }
                    (I, true) => None,
                    _ => Some(required(ins, slots[g], &name, &[n_cell])?),
                };
            }
            Some(coefficients)
        }
    };

    let mut aux_weights = [None; 4];
    if let (Some(slots), Some(n_aux)) = (s.aux_weights, n_aux) {
        for g in [I, F, C, O] {
            if g == I && cifg {
                continue;
            }
            let name = named(format!("aux-input-to-{} weights", GATES[g]));
            aux_weights[g] = Some(required(ins, slots[g], &name, &[n_cell, n_aux])?);
        }
    }

    let h0 = state(ins, s.output_state, &format!("{p}output state"), checked_numel(&[batch, n_output])?)?;
    let c0 = state(ins, s.cell_state, &format!("{p}cell state"), checked_numel(&[batch, n_cell])?)?;
    Ok(Dir {
        n_cell,
        n_output,
        input_weights,
        aux_weights,
        recurrent,
        peepholes,
        biases,
        layer_norm,
        projection,
        h0,
        c0,
    })
}

/// The options a direction runs with.
#[derive(Clone, Copy)]
struct Config {
    act: Act,
    cell_clip: f32,
    proj_clip: f32,
    isa: Isa,
}

fn config(isa: Isa, act: Act, cell_clip: f32, proj_clip: f32) -> KResult<Config> {
    // Zero means no clipping; LiteRT refuses negative clips.
    if !(cell_clip >= 0.0 && proj_clip >= 0.0) {
        return Err(format!("cell_clip {cell_clip} and proj_clip {proj_clip} must not be negative"));
    }
    activate(&mut [], act)?;
    Ok(Config { act, cell_clip, proj_clip, isa })
}

fn sigmoid(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
}

fn clip(x: &mut [f32], bound: f32) {
    if bound > 0.0 {
        x.iter_mut().for_each(|v| *v = v.clamp(-bound, bound));
    }
}

/// Normalizes each row of `n` values to mean 0 and variance 1 (LiteRT's two passes, ε 1e-8),
/// then scales by `coefficients` and adds `bias`.
fn layer_norm(x: &mut [f32], n: usize, coefficients: &[f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(n) {
        let mean = row.iter().sum::<f32>() / n as f32;
        let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
        let inv = 1.0 / (variance + 1e-8).sqrt();
        for ((v, c), b) in row.iter_mut().zip(coefficients).zip(bias) {
            *v = (*v - mean) * inv * c + b;
        }
    }
}

/// Whether row `r` of `x` (rows of `k`) is all zeros.
fn zero_row(x: &[f32], k: usize, r: usize) -> bool {
    x[r * k..(r + 1) * k].iter().all(|&v| v == 0.0)
}

/// Runs one direction over `x` (rows of `n_input`, `seq` gives their order; `aux` the
/// auxiliary input and its width), backwards when `forward` is false, and stores each row's
/// output at `out[row·stride + offset..]`.
#[allow(clippy::too_many_arguments)]
fn run(
    d: &Dir,
    cfg: Config,
    x: &[f32],
    n_input: usize,
    aux: Option<(&[f32], usize)>,
    seq: Seq,
    forward: bool,
    out: &mut [f32],
    (stride, offset): (usize, usize),
) -> KResult<()> {
    let (rows, n, nb, n_out, isa) = (seq.rows(), d.n_cell, seq.batch, d.n_output, cfg.isa);
    let gates: Vec<usize> = (0..4).filter(|&g| d.input_weights[g].is_some()).collect();
    // The input (and auxiliary) products of every step at once; with the bias unless layer
    // norm adds it later.
    let mut pre: Vec<Buf<f32>> = (0..4).map(|_| Buf::new()).collect();
    for &g in &gates {
        let bias = if d.layer_norm.is_some() { None } else { d.biases[g] };
        let mut p = repeat_rows(bias, rows, n)?;
        if let Some(w) = d.input_weights[g] {
            matmul_acc(isa, rows, x, n_input, w, n, &mut p)?;
        }
        if let (Some((a, k)), Some(w)) = (aux, d.aux_weights[g]) {
            matmul_acc(isa, rows, a, k, w, n, &mut p)?;
        }
        pre[g] = p;
    }
    let mut h = d.h0.to_vec();
    let mut c = d.c0.to_vec();
    let mut acc: Vec<Vec<f32>> = (0..4).map(|_| vec![0f32; nb * n]).collect();
    let mut hidden = vec![0f32; nb * n];
    for s in 0..seq.time {
        let t = if forward { s } else { seq.time - 1 - s };
        for &g in &gates {
            let a = &mut acc[g];
            for b in 0..nb {
                let r = seq.row(t, b);
                a[b * n..(b + 1) * n].copy_from_slice(&pre[g][r * n..(r + 1) * n]);
            }
            match d.recurrent[g] {
                Some((w, true)) => {
                    for (row, hrow) in a.chunks_exact_mut(n).zip(h.chunks_exact(n_out)) {
                        row.iter_mut().zip(w.iter().zip(hrow)).for_each(|(v, (w, h))| *v += w * h);
                    }
                }
                Some((w, false)) => matmul_acc(isa, nb, &h, n_out, w, n, a)?,
                None => {}
            }
        }
        for g in gates.iter().copied().filter(|&g| g != O) {
            finish_gate(d, g, &mut acc[g], &c, nb);
            if g == C {
                activate(&mut acc[C], cfg.act)?;
                if cfg.act == Act::NONE {
                    unactivated_cell_gate(d, &mut acc[C], &pre[C], x, n_input, aux, seq, t);
                }
            } else {
                sigmoid(&mut acc[g]);
            }
        }
        for i in 0..nb * n {
            let f = acc[F][i];
            let input_gate = if d.cifg() { 1.0 - f } else { acc[I][i] };
            c[i] = f * c[i] + acc[C][i] * input_gate;
        }
        clip(&mut c, cfg.cell_clip);
        finish_gate(d, O, &mut acc[O], &c, nb);
        sigmoid(&mut acc[O]);
        // LiteRT applies no activation by leaving its cell-gate buffer in place of act(c), so
        // with NONE the output gate multiplies the cell gate.
        if cfg.act == Act::NONE {
            hidden.copy_from_slice(&acc[C]);
        } else {
            hidden.copy_from_slice(&c);
            activate(&mut hidden, cfg.act)?;
        }
        hidden.iter_mut().zip(&acc[O]).for_each(|(v, o)| *v *= o);
        match d.projection {
            Some((w, bias)) => {
                h.clear();
                h.extend_from_slice(&repeat_rows(bias, nb, n_out)?);
                matmul_acc(isa, nb, &hidden, n, w, n_out, &mut h)?;
                clip(&mut h, cfg.proj_clip);
            }
            None => h.copy_from_slice(&hidden),
        }
        for b in 0..nb {
            let o = seq.row(t, b) * stride + offset;
            out[o..o + n_out].copy_from_slice(&h[b * n_out..(b + 1) * n_out]);
        }
    }
    Ok(())
}

/// Adds the peephole term (with cell state `c`) and, with layer norm, normalizes and adds the
/// bias, to gate `g`'s pre-activation.
fn finish_gate(d: &Dir, g: usize, acc: &mut [f32], c: &[f32], nb: usize) {
    let n = d.n_cell;
    if let Some(p) = d.peepholes[g] {
        for (row, crow) in acc.chunks_exact_mut(n).zip(c.chunks_exact(n)).take(nb) {
            row.iter_mut().zip(p.iter().zip(crow)).for_each(|(v, (p, c))| *v += p * c);
        }
    }
    if let (Some(ln), Some(bias)) = (d.layer_norm.as_ref().and_then(|l| l[g]), d.biases[g]) {
        layer_norm(acc, n, ln, bias);
    }
}

/// LiteRT's cell gate when the activation is NONE. Its gate kernel alternates two buffers,
/// skipping the input (and auxiliary) product of an all-zero step, and the activation is
/// what copies the result into the gate; with no activation the gate keeps whichever buffer
/// it was: the full pre-activation, or (by the number of products skipped) just the bias, or
/// the bias and the input products without the recurrent one.
#[allow(clippy::too_many_arguments)]
fn unactivated_cell_gate(
    d: &Dir,
    gate: &mut [f32],
    pre: &[f32],
    x: &[f32],
    n_input: usize,
    aux: Option<(&[f32], usize)>,
    seq: Seq,
    t: usize,
) {
    let n = d.n_cell;
    let diagonal = matches!(d.recurrent[C], Some((_, true)));
    // LiteRT tests a time-major step whole, a batch-major one row by row.
    let zero = |v: &[f32], k: usize, b: usize| {
        if seq.time_major {
            (0..seq.batch).all(|b| zero_row(v, k, seq.row(t, b)))
        } else {
            zero_row(v, k, seq.row(t, b))
        }
    };
    for b in 0..seq.batch {
        let mut swaps = usize::from(!zero(x, n_input, b));
        if let (Some((a, k)), true) = (aux, d.aux_weights[C].is_some()) {
            swaps += usize::from(!zero(a, k, b));
        }
        let full = if diagonal { swaps % 2 == 0 } else { swaps % 2 == 1 };
        if full {
            continue;
        }
        let row = &mut gate[b * n..(b + 1) * n];
        let r = seq.row(t, b);
        match (diagonal || swaps == 0, d.layer_norm.is_some(), d.biases[C]) {
            (false, _, _) => row.copy_from_slice(&pre[r * n..(r + 1) * n]),
            (true, false, Some(bias)) => row.copy_from_slice(bias),
            _ => row.fill(0.0),
        }
    }
}

/// A sequence input (FLOAT32) and its features.
fn sequence_input<'a>(
    ins: &[Option<&'a Value>],
    slot: usize,
    time_major: bool,
    name: &str,
) -> KResult<(&'a [f32], Seq, usize)> {
    let v = opt_inp(ins, slot).ok_or_else(|| format!("{name} (input {slot}) is missing"))?;
    let (seq, n) = Seq::of(&v.shape, time_major, name)?;
    Ok((f32s(v, name)?, seq, n))
}

/// Whether the op has layer-norm coefficients (24 inputs, the forget gate's present).
fn uses_layer_norm(ctx: &PrepareCtx) -> KResult<bool> {
    let present = |s: usize| ctx.input(s).is_some();
    let ln = ctx.op.inputs.len() == 24 && present(21);
    if !ln && (20..24).any(|s| ctx.op.inputs.len() > s && present(s)) {
        return Err("layer-norm coefficients (inputs 20-23) without the forget gate's (input 21)".into());
    }
    Ok(ln)
}

fn prepare_lstm(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, LSTMOptions);
    if o.kernel_type == LSTMKernelType::BASIC {
        return Err("the basic LSTM kernel (kernel_type BASIC) is not supported".into());
    }
    expect_inputs(ctx, &[20, 24])?;
    let cfg = config(ctx.isa, o.fused_activation_function, o.cell_clip, o.proj_clip)?;
    let mut s = slots("", 0, [18, 19]);
    s.layer_norm = uses_layer_norm(ctx)?.then_some([20, 21, 22, 23]);
    Ok(Prepared::one(move |ins| {
        let xv = opt_inp(ins, 0).ok_or("input (input 0) is missing")?;
        let (seq, n_input) = Seq::single(&xv.shape, "input")?;
        let d = read_dir(ins, &s, n_input, None, seq.batch)?;
        let mut out = Buf::filled(0f32, checked_numel(&[seq.rows(), d.n_output])?);
        run(&d, cfg, f32s(xv, "input")?, n_input, None, seq, true, &mut out, (d.n_output, 0))?;
        Ok(Value::f32(vec![seq.batch, d.n_output], out))
    }))
}

fn prepare_unidirectional(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, UnidirectionalSequenceLSTMOptions);
    expect_inputs(ctx, &[20, 24])?;
    let cfg = config(ctx.isa, o.fused_activation_function, o.cell_clip, o.proj_clip)?;
    let mut s = slots("", 0, [18, 19]);
    s.layer_norm = uses_layer_norm(ctx)?.then_some([20, 21, 22, 23]);
    s.diagonal = true;
    let time_major = o.time_major;
    Ok(Prepared::one(move |ins| {
        let (x, seq, n_input) = sequence_input(ins, 0, time_major, "input")?;
        let d = read_dir(ins, &s, n_input, None, seq.batch)?;
        let mut out = Buf::filled(0f32, checked_numel(&[seq.rows(), d.n_output])?);
        run(&d, cfg, x, n_input, None, seq, true, &mut out, (d.n_output, 0))?;
        Ok(Value::f32(seq.shape(d.n_output), out))
    }))
}

fn prepare_bidirectional(ctx: &PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, BidirectionalSequenceLSTMOptions);
    expect_inputs(ctx, &[48])?;
    let cfg = config(ctx.isa, o.fused_activation_function, o.cell_clip, o.proj_clip)?;
    let outputs = if o.merge_outputs { 1 } else { 2 };
    if ctx.op.outputs.len() != outputs {
        return Err(format!("merge_outputs {} needs {outputs} outputs, got {}", o.merge_outputs, ctx.op.outputs.len()));
    }
    let mut fw = slots("forward ", 0, [35, 36]);
    let mut bw = slots("backward ", 17, [37, 38]);
    // With auxiliary weights, both directions add the auxiliary input's product; without,
    // an auxiliary input is the backward direction's input (stacked bidirectional layers).
    let aux_weights = ctx.input(41).is_some();
    if aux_weights {
        fw.aux_weights = Some([40, 41, 42, 43]);
        bw.aux_weights = Some([44, 45, 46, 47]);
    } else if (40..48).any(|s| ctx.input(s).is_some()) {
        return Err(
            "auxiliary weights (inputs 40-47) without the forward aux-input-to-forget weights (input 41)".into()
        );
    }
    let time_major = o.time_major;
    Ok(Prepared::new(move |ins, _| {
        let (x, seq, n_input) = sequence_input(ins, 0, time_major, "input")?;
        let aux = match opt_inp(ins, 39) {
            Some(_) => {
                let (a, aseq, n_aux) = sequence_input(ins, 39, time_major, "aux input")?;
                if (aseq.time, aseq.batch) != (seq.time, seq.batch) || (!aux_weights && n_aux != n_input) {
                    return Err("the aux input (input 39) does not match the input's shape".into());
                }
                Some((a, n_aux))
            }
            None if aux_weights => return Err("aux input (input 39) is missing".into()),
            None => None,
        };
        let (bw_x, cross) = match aux {
            Some((a, _)) if !aux_weights => (a, None),
            _ => (x, aux),
        };
        let fd = read_dir(ins, &fw, n_input, cross.map(|a| a.1), seq.batch)?;
        let bd = read_dir(ins, &bw, n_input, cross.map(|a| a.1), seq.batch)?;
        // LiteRT checks the backward weights against the forward direction's sizes.
        if (bd.n_cell, bd.n_output) != (fd.n_cell, fd.n_output) {
            return Err(format!(
                "the backward direction has {} cells and {} outputs, the forward one {} and {}; they must match",
                bd.n_cell, bd.n_output, fd.n_cell, fd.n_output
            ));
        }
        if o.merge_outputs {
            let width = fd.n_output + bd.n_output;
            let mut out = Buf::filled(0f32, checked_numel(&[seq.rows(), width])?);
            run(&fd, cfg, x, n_input, cross, seq, true, &mut out, (width, 0))?;
            run(&bd, cfg, bw_x, n_input, cross, seq, false, &mut out, (width, fd.n_output))?;
            return Ok(vec![Value::f32(seq.shape(width), out)]);
        }
        let mut outs = Vec::with_capacity(2);
        for (d, input, forward) in [(&fd, x, true), (&bd, bw_x, false)] {
            let mut out = Buf::filled(0f32, checked_numel(&[seq.rows(), d.n_output])?);
            run(d, cfg, input, n_input, cross, seq, forward, &mut out, (d.n_output, 0))?;
            outs.push(Value::f32(seq.shape(d.n_output), out));
        }
        Ok(outs)
    }))
}
