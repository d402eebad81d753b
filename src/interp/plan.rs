//! Preparing a subgraph: kernels from the op registry, folded constants, decoded constants,
//! and when each intermediate can be freed.

use super::{op_name, InterpError, Step};
use crate::ir::{codec, Model, Subgraph, Value};
use crate::ops::{self, Constant, OpDef, PrepareCtx, Prepared};
use crate::schema::TensorType;
use rayon::prelude::*;

/// What [`super::Interpreter`] runs one subgraph from.
pub(super) struct Plan {
    pub consts: Vec<Option<Value>>,
    pub folded: Vec<usize>,
    pub steps: Vec<Step>,
    /// The subgraphs its operators run (WHILE, IF, CALL_ONCE).
    pub calls: Vec<usize>,
    /// Operators left out because tflq cannot run them (partial plans only).
    pub skipped: Vec<Skipped>,
    /// For each tensor, the skipped operator it cannot be computed without.
    pub blocked: Vec<Option<usize>>,
}

/// An operator the interpreter cannot run, left out of a partial plan with everything that
/// depends on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// Its index in the subgraph.
    pub index: usize,
    pub op: String,
    pub reason: String,
    /// Tensors left uncomputed because of it: its outputs and everything computed from them.
    pub tensors: usize,
}

/// An operator left to run, with its entry.
struct Planned {
    index: usize,
    def: &'static OpDef,
    /// Whether it runs its integer kernel.
    integer: bool,
}

impl Plan {
    /// Plans subgraph `sg`. A partial plan leaves out the operators without a kernel and
    /// everything downstream of them, instead of refusing the subgraph.
    pub(super) fn new(model: &Model, sg: &Subgraph, partial: bool) -> Result<Plan, InterpError> {
        let defs = kernels_of(model, sg, partial)?;
        let nt = sg.tensors.len();
        let inputs = check_boundary(sg)?;
        let mut is_const: Vec<bool> =
            (0..nt).map(|t| !inputs.contains(&t) && !model.tensor_bytes(&sg.tensors[t]).is_empty()).collect();
        let mut consts: Vec<Option<Value>> = vec![None; nt];
        // A variable tensor without data (the state of LSTM, RNN and SVDF ops) holds its
        // initial value for the whole of a run, since every run starts fresh: a constant.
        for t in 0..nt {
            if !sg.tensors[t].is_variable || is_const[t] || inputs.contains(&t) {
                continue;
            }
            // LiteRT's ops update their state in place, so a second reader would see the first's
            // update; here every reader starts from the initial value.
            let readers = sg.operators.iter().filter(|op| op.inputs.contains(&(t as i32))).count();
            if readers > 1 {
                return Err(malformed(format!(
                    "variable tensor {t} '{}' is the state of {readers} operators; tflq does not carry state from one op to another",
                    sg.tensors[t].name()
                )));
            }
            consts[t] = Some(initial_state(&sg.tensors[t]).map_err(|msg| InterpError::Constant {
                index: t,
                name: sg.tensors[t].name().to_string(),
                msg,
            })?);
            is_const[t] = true;
        }
        let order = fold_and_order(model, sg, &defs, &inputs, &is_const, &mut consts)?;
        let prepared = prepare(model, sg, &order.planned, &is_const, &consts)?;
        decode_read_constants(model, sg, &prepared, &is_const, &mut consts)?;
        let frees = liveness(sg, &prepared, &inputs, &is_const);
        let calls = order.planned.iter().filter_map(|p| p.def.calls.map(|f| f(&sg.operators[p.index].builtin_options)));
        let calls = calls.flatten().filter_map(|c| usize::try_from(c).ok()).collect();
        let mut steps: Vec<Step> = prepared
            .into_iter()
            .zip(frees)
            .map(|((index, p), frees)| Step { index, kernel: p.kernel, frees, fuse_next: false })
            .collect();
        mark_fusions(sg, &mut steps);
        let mut skipped = order.skipped;
        for s in &mut skipped {
            s.tensors = order.blocked.iter().filter(|&&b| b == Some(s.index)).count();
        }
        Ok(Plan { consts, folded: order.folded, steps, calls, skipped, blocked: order.blocked })
    }
}

/// The value a variable tensor without data starts a run with, as LiteRT resets it: zeros
/// (an INT8 tensor's zero point).
fn initial_state(t: &crate::ir::Tensor) -> Result<Value, String> {
    let shape = t.shape().iter().map(|&d| usize::try_from(d)).collect::<Result<Vec<_>, _>>();
    let shape = shape.map_err(|_| format!("a variable tensor of shape {:?}", t.shape()))?;
    let n = ops::checked_numel(&shape)?;
    let type_name = || crate::ir::dtype::type_name(t.dtype);
    let size =
        crate::ir::dtype::element_size(t.dtype).ok_or_else(|| format!("a variable tensor of type {}", type_name()))?;
    let fill = match t.dtype {
        TensorType::INT8 => {
            t.quantization.as_ref().and_then(|q| q.zero_points().first().copied()).unwrap_or(0) as i8 as u8
        }
        _ => 0,
    };
    let bytes = vec![fill; n.checked_mul(size).ok_or("a variable tensor too large")?];
    Ok(Value::new(shape, codec::decode(t.dtype, &bytes).map_err(|e| e.to_string())?))
}

fn malformed(msg: String) -> InterpError {
    InterpError::Model { msg }
}

/// Whether the interpreter has a kernel for every operator of subgraph `si` and of the
/// subgraphs it runs (`seen` guards against cycles).
fn runs_whole(model: &Model, si: usize, seen: &mut Vec<usize>) -> bool {
    if seen.contains(&si) {
        return true;
    }
    seen.push(si);
    let Some(sg) = model.subgraphs.get(si) else { return false };
    sg.operators.iter().all(|op| {
        let Some(def) = model.operator_codes.get(op.opcode_index as usize).and_then(ops::of_code) else { return false };
        let called = def.calls.map_or(Vec::new(), |f| f(&op.builtin_options));
        let integer = OpDef::is_integer(op, &sg.tensors, &|t| !model.tensor_bytes(&sg.tensors[t]).is_empty());
        def.prepare_fn(integer).is_some()
            && called.iter().all(|&c| usize::try_from(c).is_ok_and(|c| runs_whole(model, c, seen)))
    })
}

/// Every operator's registry entry and whether it runs its integer kernel (None for an op the
/// interpreter cannot run, in a partial plan). Otherwise the error lists every op that has no
/// kernel (integer ops as "NAME (integer)").
fn kernels_of(model: &Model, sg: &Subgraph, partial: bool) -> Result<Vec<Option<(&'static OpDef, bool)>>, InterpError> {
    let mut unsupported = Vec::new();
    let mut defs = Vec::with_capacity(sg.operators.len());
    for (i, op) in sg.operators.iter().enumerate() {
        let code = model.operator_codes.get(op.opcode_index as usize).ok_or_else(|| {
            malformed(format!("operator {i} uses opcode index {}, which does not exist", op.opcode_index))
        })?;
        let integer = OpDef::is_integer(op, &sg.tensors, &|t| !model.tensor_bytes(&sg.tensors[t]).is_empty());
        let def = ops::of_code(code).filter(|d| d.prepare_fn(integer).is_some());
        // In a partial plan, an op that runs subgraphs tflq cannot run whole is left out too.
        let runs = |d: &&OpDef| {
            let called = d.calls.map_or(Vec::new(), |f| f(&op.builtin_options));
            !partial || called.iter().all(|&c| usize::try_from(c).is_ok_and(|c| runs_whole(model, c, &mut Vec::new())))
        };
        match def.filter(runs) {
            Some(d) => defs.push(Some((d, integer))),
            None if partial => defs.push(None),
            None if integer => unsupported.push(format!("{} (integer)", code.name())),
            None => unsupported.push(code.name()),
        }
    }
    if !unsupported.is_empty() {
        return Err(InterpError::UnsupportedOps { ops: unsupported });
    }
    Ok(defs)
}

/// A tensor index of the subgraph (None for -1), or an error naming `what`.
fn tensor_index(sg: &Subgraph, t: i32, what: &str) -> Result<Option<usize>, InterpError> {
    let nt = sg.tensors.len();
    if t == -1 {
        return Ok(None);
    }
    usize::try_from(t)
        .ok()
        .filter(|&t| t < nt)
        .map(Some)
        .ok_or_else(|| malformed(format!("{what} refers to tensor {t}, but the subgraph has {nt}")))
}

/// The subgraph's input tensors, after checking its inputs and outputs exist.
fn check_boundary(sg: &Subgraph) -> Result<Vec<usize>, InterpError> {
    let mut inputs = Vec::new();
    for &t in &sg.inputs {
        inputs
            .push(tensor_index(sg, t, "a subgraph input")?.ok_or_else(|| malformed("a subgraph input is -1".into()))?);
    }
    for &t in &sg.outputs {
        tensor_index(sg, t, "a subgraph output")?.ok_or_else(|| malformed("a subgraph output is -1".into()))?;
    }
    Ok(inputs)
}

fn decode(model: &Model, sg: &Subgraph, t: usize) -> Result<Value, InterpError> {
    let tensor = &sg.tensors[t];
    codec::decode_constant(tensor, model.tensor_bytes(tensor)).map_err(|e| InterpError::Constant {
        index: t,
        name: tensor.name().to_string(),
        msg: e.to_string(),
    })
}

/// The operators left to run, the folded tensors, and (in a partial plan) what was left out.
struct Order {
    planned: Vec<Planned>,
    folded: Vec<usize>,
    skipped: Vec<Skipped>,
    blocked: Vec<Option<usize>>,
}

/// Checks that every operator reads only tensors already available, folds the ops whose only
/// input is a constant (their values go to `consts`), and orders the rest. An op without an
/// entry (`defs[i]` None, partial plans only) is skipped, and so is every op that reads a
/// tensor computed from its outputs.
fn fold_and_order(
    model: &Model,
    sg: &Subgraph,
    defs: &[Option<(&'static OpDef, bool)>],
    inputs: &[usize],
    is_const: &[bool],
    consts: &mut [Option<Value>],
) -> Result<Order, InterpError> {
    let mut available = is_const.to_vec();
    for &i in inputs {
        available[i] = true;
    }
    let mut order =
        Order { planned: Vec::new(), folded: Vec::new(), skipped: Vec::new(), blocked: vec![None; available.len()] };
    for (i, op) in sg.operators.iter().enumerate() {
        let mut ins = Vec::with_capacity(op.inputs.len());
        let mut blocked_by = None;
        for &t in &op.inputs {
            if let Some(t) = tensor_index(sg, t, &format!("operator {i}'s input"))? {
                if let Some(root) = order.blocked[t] {
                    blocked_by.get_or_insert(root);
                } else if !available[t] {
                    return Err(malformed(format!(
                        "operator {i} ({}) reads tensor {t} '{}' before anything produces it",
                        op_name(model, sg, i),
                        sg.tensors[t].name()
                    )));
                }
                ins.push(t);
            }
        }
        let mut outs = Vec::with_capacity(op.outputs.len());
        for &t in &op.outputs {
            let t = tensor_index(sg, t, &format!("operator {i}'s output"))?
                .ok_or_else(|| malformed(format!("operator {i} has a -1 output")))?;
            if is_const[t] || consts[t].is_some() || inputs.contains(&t) {
                return Err(malformed(format!("operator {i} writes tensor {t}, which is a constant or input")));
            }
            outs.push(t);
        }
        let def = match (defs[i], blocked_by) {
            (None, _) => {
                let reason = "tflq has no kernel for it".to_string();
                order.skipped.push(Skipped { index: i, op: op_name(model, sg, i), reason, tensors: 0 });
                outs.iter().for_each(|&t| order.blocked[t] = Some(i));
                continue;
            }
            (Some(_), Some(root)) => {
                outs.iter().for_each(|&t| order.blocked[t] = Some(root));
                continue;
            }
            (Some(def), None) => def,
        };
        let (def, integer) = def;
        let constant_input =
            |t: usize| is_const[t] || consts[t].is_some() || sg.tensors[t].sparsity.is_some() && !inputs.contains(&t);
        match (def.fold, &ins[..], &outs[..]) {
            (Some(fold), &[tin], &[tout]) if constant_input(tin) => {
                let v = match consts[tin].take() {
                    Some(v) => {
                        consts[tin] = Some(v.clone());
                        v
                    }
                    None => decode(model, sg, tin)?,
                };
                let kernel_error = |msg| InterpError::Kernel { op: op_name(model, sg, i), index: i, msg };
                consts[tout] = Some(fold(&sg.tensors[tin], v).map_err(kernel_error)?);
                order.folded.push(tout);
            }
            _ => order.planned.push(Planned { index: i, def, integer }),
        }
        for t in outs {
            available[t] = true;
        }
    }
    for &t in &sg.outputs {
        if !available[t as usize] && order.blocked[t as usize].is_none() {
            return Err(malformed(format!("subgraph output {t} is never computed")));
        }
    }
    Ok(order)
}

/// Prepares every kernel (in parallel; the first failure in operator order is reported).
/// Constants are offered decoded when folding made them, else as the model's FLOAT32 or INT8
/// bytes.
fn prepare(
    model: &Model,
    sg: &Subgraph,
    planned: &[Planned],
    is_const: &[bool],
    consts: &[Option<Value>],
) -> Result<Vec<(usize, Prepared)>, InterpError> {
    let constants = |t: usize| -> Option<Constant<'_>> {
        if let Some(v) = consts.get(t)?.as_ref() {
            return Some(Constant::Value(v));
        }
        let tensor = &sg.tensors[t];
        if !is_const[t] || model.dense(tensor).is_err() {
            return None;
        }
        let data = &model.buffers[tensor.buffer as usize].data;
        match tensor.dtype {
            TensorType::FLOAT32 => Some(Constant::Raw(data)),
            TensorType::INT8 => Some(Constant::Int8(data)),
            _ => None,
        }
    };
    let isa = ops::Isa::best();
    planned
        .par_iter()
        .map(|p| {
            let op = &sg.operators[p.index];
            let version = model.operator_codes.get(op.opcode_index as usize).map_or(1, |c| c.version);
            let ctx = PrepareCtx { op, version, tensors: &sg.tensors, isa, constants: &constants };
            let prepare = p.def.prepare_fn(p.integer).expect("kernels_of kept only ops with kernels");
            prepare(&ctx).map(|k| (p.index, k)).map_err(|msg| InterpError::Kernel {
                op: op_name(model, sg, p.index),
                index: p.index,
                msg,
            })
        })
        .collect()
}

/// Decodes (in parallel) every constant a kernel reads when it runs, and constant outputs.
fn decode_read_constants(
    model: &Model,
    sg: &Subgraph,
    prepared: &[(usize, Prepared)],
    is_const: &[bool],
    consts: &mut [Option<Value>],
) -> Result<(), InterpError> {
    let mut read = vec![false; sg.tensors.len()];
    for (index, p) in prepared {
        for (slot, &t) in sg.operators[*index].inputs.iter().enumerate() {
            if let Ok(t) = usize::try_from(t) {
                read[t] |= !p.consumed.contains(&slot);
            }
        }
    }
    for &t in &sg.outputs {
        read[t as usize] = true;
    }
    let wanted: Vec<usize> = (0..read.len()).filter(|&t| read[t] && is_const[t] && consts[t].is_none()).collect();
    let decoded: Vec<Result<Value, InterpError>> = wanted.par_iter().map(|&t| decode(model, sg, t)).collect();
    for (t, v) in wanted.into_iter().zip(decoded) {
        consts[t] = Some(v?);
    }
    Ok(())
}

/// For each step, the tensors to free after it: an intermediate (or input) is freed after its
/// last reader, unless it is a subgraph output.
fn liveness(sg: &Subgraph, prepared: &[(usize, Prepared)], inputs: &[usize], is_const: &[bool]) -> Vec<Vec<usize>> {
    let nt = sg.tensors.len();
    let mut last_use: Vec<Option<usize>> = vec![None; nt];
    for (s, (i, _)) in prepared.iter().enumerate() {
        let op = &sg.operators[*i];
        for &t in op.inputs.iter().chain(op.outputs.iter()) {
            if t >= 0 {
                last_use[t as usize] = Some(s);
            }
        }
    }
    for &t in inputs {
        // An input nobody reads is freed right away.
        last_use[t].get_or_insert(0);
    }
    let mut frees: Vec<Vec<usize>> = vec![Vec::new(); prepared.len()];
    for (t, lu) in last_use.iter().enumerate() {
        if let Some(s) = lu {
            if !is_const[t] && !sg.outputs.contains(&(t as i32)) && *s < frees.len() {
                frees[*s].push(t);
            }
        }
    }
    frees
}

/// Marks pairs of adjacent steps whose kernels fuse, where the second alone reads the first's
/// only output and that output is not a subgraph output.
fn mark_fusions(sg: &Subgraph, steps: &mut [Step]) {
    let nt = sg.tensors.len();
    let mut readers = vec![0usize; nt];
    for op in &sg.operators {
        for &t in &op.inputs {
            if let Some(t) = usize::try_from(t).ok().filter(|&t| t < nt) {
                readers[t] += 1;
            }
        }
    }
    for i in 1..steps.len() {
        let (a, b) = (&sg.operators[steps[i - 1].index], &sg.operators[steps[i].index]);
        let chained = a.outputs.len() == 1
            && b.inputs.first() == a.outputs.first()
            && usize::try_from(a.outputs[0]).is_ok_and(|t| readers[t] == 1)
            && !sg.outputs.contains(&a.outputs[0]);
        steps[i - 1].fuse_next = chained && steps[i - 1].kernel.fuses_with(&*steps[i].kernel);
    }
}
