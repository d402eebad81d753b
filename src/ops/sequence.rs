//! Recurrent and sequence ops: LSTM, UNIDIRECTIONAL_SEQUENCE_LSTM and
//! BIDIRECTIONAL_SEQUENCE_LSTM (in `lstm`), RNN, UNIDIRECTIONAL_SEQUENCE_RNN,
//! BIDIRECTIONAL_SEQUENCE_RNN, SVDF, EMBEDDING_LOOKUP and EMBEDDING_LOOKUP_SPARSE.
//!
//! The state operands (variable tensors) hold what the interpreter gives them, zeros at the
//! start of a run; the kernels return only the ops' outputs. The products with the input
//! are one GEMM over every time step; only the recurrent product runs step by step. There
//! is no integer or hybrid rule: in the full-integer modes these ops stay float.

mod lstm;

use super::util::{activate, checked_numel, f32s, inp, ints, opt_inp};
use super::{opts, KResult, OpDef, PrepareCtx, Prepared};
use crate::ir::{Buf, Value, Values};
use crate::kernels::{self, Isa};
use crate::schema::{ActivationFunctionType as Act, BuiltinOperator as B, CombinerType, TensorType};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    lstm::register(add);
    add(OpDef::builtin(B::RNN).kernel(prepare_rnn));
    add(OpDef::builtin(B::UNIDIRECTIONAL_SEQUENCE_RNN).kernel(prepare_sequence_rnn));
    add(OpDef::builtin(B::BIDIRECTIONAL_SEQUENCE_RNN).kernel(prepare_bidirectional_rnn));
    add(OpDef::builtin(B::SVDF).kernel(prepare_svdf));
    add(OpDef::builtin(B::EMBEDDING_LOOKUP).kernel(prepare_embedding_lookup));
    add(OpDef::builtin(B::EMBEDDING_LOOKUP_SPARSE).kernel(prepare_embedding_lookup_sparse));
}

/// Where each (time step, batch entry) row of a sequence lies: time-major [time, batch, ..]
/// or batch-major [batch, time, ..].
#[derive(Clone, Copy, Debug)]
pub(super) struct Seq {
    pub time: usize,
    pub batch: usize,
    pub time_major: bool,
}

impl Seq {
    /// A sequence input of shape [time, batch, features] or [batch, time, features].
    fn of(shape: &[usize], time_major: bool, what: &str) -> KResult<(Seq, usize)> {
        let [a, b, n] = shape[..] else {
            return Err(format!("{what} must be 3-D, got {shape:?}"));
        };
        let (time, batch) = if time_major { (a, b) } else { (b, a) };
        Ok((Seq { time, batch, time_major }, n))
    }

    /// One step over a batch: [batch, features].
    fn single(shape: &[usize], what: &str) -> KResult<(Seq, usize)> {
        let [batch, n] = shape[..] else {
            return Err(format!("{what} must be 2-D, got {shape:?}"));
        };
        Ok((Seq { time: 1, batch, time_major: true }, n))
    }

    pub fn rows(&self) -> usize {
        self.time * self.batch
    }

    /// The row of step `t` of batch entry `b`.
    pub fn row(&self, t: usize, b: usize) -> usize {
        if self.time_major {
            t * self.batch + b
        } else {
            b * self.time + t
        }
    }

    /// The output shape for `n` features per row.
    fn shape(&self, n: usize) -> Vec<usize> {
        if self.time_major {
            vec![self.time, self.batch, n]
        } else {
            vec![self.batch, self.time, n]
        }
    }
}

/// `out[rows×n] += x[rows×k] · w[n×k]ᵀ` (the FULLY_CONNECTED product): a GEMV for a few
/// rows, where a GEMM would repack all of `w`.
pub(super) fn matmul_acc(
    isa: Isa,
    rows: usize,
    x: &[f32],
    k: usize,
    w: &[f32],
    n: usize,
    out: &mut [f32],
) -> KResult<()> {
    if rows == 0 || n == 0 || k == 0 {
        return Ok(());
    }
    let (x, w, out) = (&x[..rows * k], &w[..n * k], &mut out[..rows * n]);
    if rows <= 4 {
        kernels::gemv(isa, x, w, k, out)
    } else {
        kernels::gemm(rows, k, n, x, (k, 1), w, (1, k), 1.0, out)
    }
}

/// `rows` copies of `bias` (zeros when there is none).
pub(super) fn repeat_rows(bias: Option<&[f32]>, rows: usize, n: usize) -> KResult<Buf<f32>> {
    let total = checked_numel(&[rows, n])?;
    Ok(match bias {
        Some(b) => {
            let mut out = Buf::with_capacity(total);
            (0..rows).for_each(|_| out.extend_from_slice(b));
            out
        }
        None => Buf::filled(0f32, total),
    })
}

/// A FLOAT32 operand of exactly `shape` (None when the slot is omitted). `name` names it in errors.
pub(super) fn operand<'a>(
    ins: &[Option<&'a Value>],
    slot: usize,
    name: &dyn Fn() -> String,
    shape: &[usize],
) -> KResult<Option<&'a [f32]>> {
    let Some(v) = opt_inp(ins, slot) else { return Ok(None) };
    if v.as_f32().is_none() {
        let t = v.values.type_name();
        return Err(format!("{} (input {slot}) is {t}; only FLOAT32 is supported (no hybrid kernel)", name()));
    }
    if v.shape != shape {
        return Err(format!("{} (input {slot}) must have shape {shape:?}, got {:?}", name(), v.shape));
    }
    f32s(v, &name()).map(Some)
}

/// A required operand (see [`operand`]).
pub(super) fn required<'a>(
    ins: &[Option<&'a Value>],
    slot: usize,
    name: &dyn Fn() -> String,
    shape: &[usize],
) -> KResult<&'a [f32]> {
    operand(ins, slot, name, shape)?.ok_or_else(|| format!("{} (input {slot}) is missing", name()))
}

/// A FLOAT32 input of any shape.
fn floats<'a>(ins: &[Option<&'a Value>], slot: usize, name: &str) -> KResult<&'a Value> {
    let v = opt_inp(ins, slot).ok_or_else(|| format!("{name} (input {slot}) is missing"))?;
    f32s(v, name)?;
    Ok(v)
}

/// A state operand: FLOAT32 with `n` values (LiteRT accepts any shape of the right size).
pub(super) fn state<'a>(ins: &[Option<&'a Value>], slot: usize, name: &str, n: usize) -> KResult<&'a [f32]> {
    let v = floats(ins, slot, name)?;
    let x = f32s(v, name)?;
    if x.len() != n {
        return Err(format!("{name} (input {slot}) must have {n} values, got shape {:?}", v.shape));
    }
    Ok(x)
}

/// Refuses an op that has more or fewer operand slots than its kernel reads.
pub(super) fn expect_inputs(ctx: &PrepareCtx, counts: &[usize]) -> KResult<()> {
    let n = ctx.op.inputs.len();
    if counts.contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "expected {} inputs, got {n}",
            counts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" or ")
        ))
    }
}

// ---------------------------------------------------------------------------------------
// RNN

/// One direction of a basic RNN: h = act(x·Wᵀ + h·Rᵀ + b).
struct RnnCell<'a> {
    w: &'a [f32],
    r: &'a [f32],
    bias: &'a [f32],
    h0: &'a [f32],
    units: usize,
}

/// Reads the weights [units, n_input], recurrent weights [units, units], bias [units] and
/// hidden state ([batch, units]) in slots `first`..`first + 3`.
fn rnn_cell<'a>(
    ins: &[Option<&'a Value>],
    first: usize,
    prefix: &str,
    n_input: usize,
    batch: usize,
) -> KResult<RnnCell<'a>> {
    let name = |what: &str| format!("{prefix}{what}");
    let w_value = floats(ins, first, &name("weights"))?;
    let units = match w_value.shape[..] {
        [u, _] => u,
        _ => return Err(format!("{} (input {first}) must be 2-D, got {:?}", name("weights"), w_value.shape)),
    };
    let w = required(ins, first, &|| name("weights"), &[units, n_input])?;
    let r = required(ins, first + 1, &|| name("recurrent weights"), &[units, units])?;
    let bias = required(ins, first + 2, &|| name("bias"), &[units])?;
    let h = floats(ins, first + 3, &name("hidden state"))?;
    if h.shape != [batch, units] {
        return Err(format!(
            "{} (input {}) must have shape {:?}, got {:?}",
            name("hidden state"),
            first + 3,
            [batch, units],
            h.shape
        ));
    }
    Ok(RnnCell { w, r, bias, h0: f32s(h, "hidden state")?, units })
}

/// Runs one RNN direction over `x` and stores row `r`'s output at `out[r·stride + offset..]`.
#[allow(clippy::too_many_arguments)]
fn rnn_run(
    isa: Isa,
    cell: &RnnCell,
    x: &[f32],
    n_input: usize,
    seq: Seq,
    forward: bool,
    act: Act,
    out: &mut [f32],
    (stride, offset): (usize, usize),
) -> KResult<()> {
    let (rows, u) = (seq.rows(), cell.units);
    let mut pre = repeat_rows(Some(cell.bias), rows, u)?;
    matmul_acc(isa, rows, x, n_input, cell.w, u, &mut pre)?;
    let mut h = cell.h0.to_vec();
    let mut acc = vec![0f32; seq.batch * u];
    for s in 0..seq.time {
        let t = if forward { s } else { seq.time - 1 - s };
        for b in 0..seq.batch {
            let r = seq.row(t, b);
            acc[b * u..(b + 1) * u].copy_from_slice(&pre[r * u..(r + 1) * u]);
        }
        matmul_acc(isa, seq.batch, &h, u, cell.r, u, &mut acc)?;
        activate(&mut acc, act)?;
        h.copy_from_slice(&acc);
        for b in 0..seq.batch {
            let o = seq.row(t, b) * stride + offset;
            out[o..o + u].copy_from_slice(&h[b * u..(b + 1) * u]);
        }
    }
    Ok(())
}

fn prepare_rnn(ctx: &PrepareCtx) -> KResult<Prepared> {
    expect_inputs(ctx, &[5])?;
    let act = opts!(ctx, RNNOptions).fused_activation_function;
    let isa = ctx.isa;
    Ok(Prepared::one(move |ins| {
        let x = floats(ins, 0, "input")?;
        let (seq, n_input) = Seq::single(&x.shape, "input")?;
        let cell = rnn_cell(ins, 1, "", n_input, seq.batch)?;
        let mut out = Buf::filled(0f32, checked_numel(&[seq.rows(), cell.units])?);
        rnn_run(isa, &cell, f32s(x, "input")?, n_input, seq, true, act, &mut out, (cell.units, 0))?;
        Ok(Value::f32(vec![seq.batch, cell.units], out))
    }))
}

fn prepare_sequence_rnn(ctx: &PrepareCtx) -> KResult<Prepared> {
    expect_inputs(ctx, &[5])?;
    let o = opts!(ctx, SequenceRNNOptions);
    let isa = ctx.isa;
    Ok(Prepared::one(move |ins| {
        let x = floats(ins, 0, "input")?;
        let (seq, n_input) = Seq::of(&x.shape, o.time_major, "input")?;
        let cell = rnn_cell(ins, 1, "", n_input, seq.batch)?;
        let mut out = Buf::filled(0f32, checked_numel(&[seq.rows(), cell.units])?);
        let act = o.fused_activation_function;
        rnn_run(isa, &cell, f32s(x, "input")?, n_input, seq, true, act, &mut out, (cell.units, 0))?;
        Ok(Value::f32(seq.shape(cell.units), out))
    }))
}

fn prepare_bidirectional_rnn(ctx: &PrepareCtx) -> KResult<Prepared> {
    expect_inputs(ctx, &[12])?;
    let o = opts!(ctx, BidirectionalSequenceRNNOptions);
    if (9..12).any(|s| ctx.input(s).is_some()) {
        return Err("auxiliary inputs (inputs 9-11) are not supported".into());
    }
    let outputs = if o.merge_outputs { 1 } else { 2 };
    if ctx.op.outputs.len() != outputs {
        return Err(format!("merge_outputs {} needs {outputs} outputs, got {}", o.merge_outputs, ctx.op.outputs.len()));
    }
    let isa = ctx.isa;
    Ok(Prepared::new(move |ins, _| {
        let x = floats(ins, 0, "input")?;
        let xv = f32s(x, "input")?;
        let (seq, n_input) = Seq::of(&x.shape, o.time_major, "input")?;
        let fw = rnn_cell(ins, 1, "forward ", n_input, seq.batch)?;
        let bw = rnn_cell(ins, 5, "backward ", n_input, seq.batch)?;
        let act = o.fused_activation_function;
        if o.merge_outputs {
            let width = fw.units + bw.units;
            let mut out = Buf::filled(0f32, checked_numel(&[seq.rows(), width])?);
            rnn_run(isa, &fw, xv, n_input, seq, true, act, &mut out, (width, 0))?;
            rnn_run(isa, &bw, xv, n_input, seq, false, act, &mut out, (width, fw.units))?;
            return Ok(vec![Value::f32(seq.shape(width), out)]);
        }
        let mut outs = Vec::with_capacity(2);
        for (cell, forward) in [(&fw, true), (&bw, false)] {
            let mut out = Buf::filled(0f32, checked_numel(&[seq.rows(), cell.units])?);
            rnn_run(isa, cell, xv, n_input, seq, forward, act, &mut out, (cell.units, 0))?;
            outs.push(Value::f32(seq.shape(cell.units), out));
        }
        Ok(outs)
    }))
}

// ---------------------------------------------------------------------------------------
// SVDF

fn prepare_svdf(ctx: &PrepareCtx) -> KResult<Prepared> {
    expect_inputs(ctx, &[5])?;
    let o = opts!(ctx, SVDFOptions);
    let rank =
        usize::try_from(o.rank).ok().filter(|&r| r > 0).ok_or_else(|| format!("rank {} must be positive", o.rank))?;
    let (act, isa) = (o.fused_activation_function, ctx.isa);
    Ok(Prepared::one(move |ins| svdf(isa, ins, rank, act)))
}

/// One SVDF step. The state is [batch, filters, memory] (flattened to [batch, filters ×
/// memory]): each filter's memory moves one place towards the front, the newest feature
/// activation (x · feature weightsᵀ) takes the last place, and each filter is its memory
/// dotted with its time weights; a unit sums its `rank` filters and adds its bias.
fn svdf(isa: Isa, ins: &[Option<&Value>], rank: usize, act: Act) -> KResult<Value> {
    let x = floats(ins, 0, "input")?;
    let (seq, n_input) = Seq::single(&x.shape, "input")?;
    let fw = floats(ins, 1, "feature weights")?;
    let filters = match fw.shape[..] {
        [f, _] => f,
        _ => return Err(format!("feature weights (input 1) must be 2-D, got {:?}", fw.shape)),
    };
    if filters % rank != 0 {
        return Err(format!("{filters} filters do not divide into rank {rank}"));
    }
    let units = filters / rank;
    let feature = required(ins, 1, &|| "feature weights".into(), &[filters, n_input])?;
    let tw = floats(ins, 2, "time weights")?;
    let memory = match tw.shape[..] {
        [f, m] if f == filters && m > 0 => m,
        _ => return Err(format!("time weights (input 2) must have shape [{filters}, memory], got {:?}", tw.shape)),
    };
    let time = f32s(tw, "time weights")?;
    let bias = operand(ins, 3, &|| "bias".into(), &[units])?;
    let old = floats(ins, 4, "state")?;
    if old.shape != [seq.batch, filters * memory] {
        return Err(format!(
            "state (input 4) must have shape {:?}, got {:?}",
            [seq.batch, filters * memory],
            old.shape
        ));
    }
    let old = f32s(old, "state")?;
    let mut newest = Buf::filled(0f32, checked_numel(&[seq.batch, filters])?);
    matmul_acc(isa, seq.batch, f32s(x, "input")?, n_input, feature, filters, &mut newest)?;
    let mut out = repeat_rows(None, seq.batch, units)?;
    for b in 0..seq.batch {
        for f in 0..filters {
            let mem = &old[(b * filters + f) * memory..(b * filters + f + 1) * memory];
            let w = &time[f * memory..(f + 1) * memory];
            let mut dot = 0f32;
            for m in 0..memory - 1 {
                dot += w[m] * mem[m + 1];
            }
            dot += w[memory - 1] * newest[b * filters + f];
            out[b * units + f / rank] += dot;
        }
        if let Some(bias) = bias {
            out[b * units..(b + 1) * units].iter_mut().zip(bias).for_each(|(o, b)| *o += b);
        }
    }
    activate(&mut out, act)?;
    Ok(Value::f32(vec![seq.batch, units], out))
}

// ---------------------------------------------------------------------------------------
// EMBEDDING_LOOKUP and EMBEDDING_LOOKUP_SPARSE

/// Row indices: a 1-D INT32 tensor.
fn ids(v: &Value, what: &str) -> KResult<Vec<i64>> {
    if !matches!(v.values, Values::I32(_)) || v.shape.len() != 1 {
        return Err(format!("{what} must be a 1-D INT32 tensor, got {} of shape {:?}", v.values.type_name(), v.shape));
    }
    ints(v)
}

/// A row index, checked against the table's `rows`.
fn row_of(id: i64, rows: usize) -> KResult<usize> {
    usize::try_from(id)
        .ok()
        .filter(|&r| r < rows)
        .ok_or_else(|| format!("id {id} is out of range for a table of {rows} rows"))
}

fn prepare_embedding_lookup(ctx: &PrepareCtx) -> KResult<Prepared> {
    expect_inputs(ctx, &[2])?;
    let table = ctx.input(1).ok_or("the table (input 1) is missing")?;
    let float_out = ctx.output(0)?.dtype == TensorType::FLOAT32;
    // Integer rows read by a float output are dequantized (LiteRT's hybrid lookup): symmetric,
    // one scale for the table or one per row.
    let scales = match (&table.quantization, table.dtype) {
        (Some(q), TensorType::INT8 | TensorType::UINT8) if float_out && !q.scales().is_empty() => {
            if q.zero_points().iter().any(|&z| z != 0) {
                return Err("the table must be quantized symmetrically (zero point 0)".into());
            }
            if q.scales().len() > 1 && q.quantized_dimension != 0 {
                return Err(format!("per-row scales must be along dimension 0, not {}", q.quantized_dimension));
            }
            Some(q.scales().to_vec())
        }
        _ => None,
    };
    Ok(Prepared::one(move |ins| {
        let lookup = ids(inp(ins, 0)?, "the ids (input 0)")?;
        let table = inp(ins, 1)?;
        super::util::check(table)?;
        if table.shape.len() < 2 {
            return Err(format!("the table (input 1) must have rank 2 or more, got {:?}", table.shape));
        }
        let rows = table.shape[0];
        let width: usize = table.shape[1..].iter().product();
        let mut shape = table.shape.clone();
        shape[0] = lookup.len();
        checked_numel(&shape)?;
        let picks = lookup.iter().map(|&i| row_of(i, rows)).collect::<KResult<Vec<usize>>>()?;
        let Some(scales) = &scales else {
            let gathered = crate::map_values!(&table.values, t => {
                picks.iter().flat_map(|&r| t[r * width..(r + 1) * width].iter().copied()).collect::<Vec<_>>()
            });
            return Ok(Value::new(shape, gathered));
        };
        if scales.len() > 1 && scales.len() != rows {
            return Err(format!("{} scales for a table of {rows} rows", scales.len()));
        }
        let mut out = Buf::with_capacity(picks.len() * width);
        for &r in &picks {
            let s = if scales.len() > 1 { scales[r] } else { scales[0] };
            let span = r * width..(r + 1) * width;
            match &table.values {
                Values::I8(q) => out.extend(q[span].iter().map(|&v| f32::from(v) * s)),
                // LiteRT reads the bytes of a UINT8 table as INT8, and so does this.
                Values::U8(q) => out.extend(q[span].iter().map(|&v| f32::from(v as i8) * s)),
                other => return Err(format!("a quantized table of {}", other.type_name())),
            }
        }
        Ok(Value::f32(shape, out))
    }))
}

fn prepare_embedding_lookup_sparse(ctx: &PrepareCtx) -> KResult<Prepared> {
    expect_inputs(ctx, &[5])?;
    let combiner = opts!(ctx, EmbeddingLookupSparseOptions).combiner;
    Ok(Prepared::one(move |ins| embedding_lookup_sparse(ins, combiner)))
}

/// The weighted combination of the table rows of each bucket of a sparse id tensor (ids,
/// indices [n, rank], dense shape [rank], weights [n]); the last index dimension is the
/// position inside a bucket. Buckets are combined as LiteRT does: a run of consecutive ids
/// with the same bucket, finalized (MEAN, SQRTN) when the bucket changes.
fn embedding_lookup_sparse(ins: &[Option<&Value>], combiner: CombinerType) -> KResult<Value> {
    let lookup = ids(inp(ins, 0)?, "the ids (input 0)")?;
    let idx_v = inp(ins, 1)?;
    let [n, rank] = idx_v.shape[..] else {
        return Err(format!("the indices (input 1) must be 2-D, got {:?}", idx_v.shape));
    };
    if !matches!(idx_v.values, Values::I32(_)) || n != lookup.len() {
        return Err(format!("the indices (input 1) must be INT32 of shape [{}, rank]", lookup.len()));
    }
    super::util::check(idx_v)?;
    let indices = ints(idx_v)?;
    let dense = ids(inp(ins, 2)?, "the dense shape (input 2)")?;
    if dense.len() != rank || rank == 0 {
        return Err(format!("the dense shape has {} dimensions for indices of rank {rank}", dense.len()));
    }
    let weights = required(ins, 3, &|| "the weights".into(), &[n])?;
    let table = floats(ins, 4, "the table")?;
    if table.shape.len() < 2 {
        return Err(format!("the table (input 4) must have rank 2 or more, got {:?}", table.shape));
    }
    let tv = f32s(table, "the table")?;
    let width: usize = table.shape[1..].iter().product();
    let mut shape = Vec::with_capacity(rank - 1 + table.shape.len() - 1);
    for &d in &dense[..rank - 1] {
        shape.push(usize::try_from(d).map_err(|_| format!("a negative dense dimension {d}"))?);
    }
    shape.extend_from_slice(&table.shape[1..]);
    let size = checked_numel(&shape)?;
    let mut out = Buf::filled(0f32, size);
    let finish = |out: &mut [f32], offset: i64, count: usize, total: f32, squares: f32| {
        let divisor = match combiner {
            CombinerType::MEAN => total,
            CombinerType::SQRTN => squares.sqrt(),
            _ => return,
        };
        if count == 0 {
            return;
        }
        for k in 0..width as i64 {
            if let Some(v) = usize::try_from(offset.saturating_add(k)).ok().and_then(|i| out.get_mut(i)) {
                *v /= divisor;
            }
        }
    };
    let (mut offset, mut count, mut total, mut squares) = (0i64, 0usize, 0f32, 0f32);
    for i in 0..n {
        let r = row_of(lookup[i], table.shape[0])?;
        let (mut bucket, mut stride) = (0i64, 1i64);
        for k in (0..rank - 1).rev() {
            bucket = bucket.saturating_add(indices[i * rank + k].saturating_mul(stride));
            stride = stride.saturating_mul(dense[k]);
        }
        let o = bucket.saturating_mul(width as i64);
        if o != offset {
            finish(&mut out, offset, count, total, squares);
            (offset, count, total, squares) = (o, 0, 0.0, 0.0);
        }
        count += 1;
        let w = weights[i];
        squares += w * w;
        total += w;
        // Elements of a bucket outside the output are skipped, as LiteRT does.
        for k in 0..width {
            if let Some(v) = usize::try_from(offset.saturating_add(k as i64)).ok().filter(|&j| j < size) {
                out[v] += tv[r * width + k] * w;
            }
        }
    }
    finish(&mut out, offset, count, total, squares);
    Ok(Value::f32(shape, out))
}

#[cfg(test)]
mod tests;
