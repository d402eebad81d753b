//! Functional control flow and calls: `While`/`If` whose bodies are functions of
//! the graph's library become TFLite WHILE/IF operators with a subgraph per
//! body or branch (as TF's converter does), function calls are inlined, and
//! the comparisons and logic loop conditions use. TF1 reference control flow
//! (Switch/Merge/Enter/Exit/NextIteration) is refused with one clear error.

use super::attrs::*;
use super::{err, need, LErr, Lowering, R, V};
use crate::graphdef::consts::{self, Const};
use crate::graphdef::proto::{attr_value::Value, DataType, FunctionDef, NodeDef};
use crate::graphdef::ImportError;
use crate::schema::*;
use std::collections::HashMap;

/// Deeper nesting of calls than this is taken for runaway recursion.
const MAX_CALL_DEPTH: usize = 32;

const TF1_CONTROL_FLOW: &[&str] = &[
    "Switch",
    "RefSwitch",
    "Merge",
    "RefMerge",
    "Enter",
    "RefEnter",
    "Exit",
    "RefExit",
    "NextIteration",
    "RefNextIteration",
    "LoopCond",
];

/// Output args of the multi-output builtin ops that can appear in function
/// bodies, each one tensor. Every other op has a single output arg (whatever
/// its name: `output`, `y`, `z`, `product`, …), so `node:arg:k` is output k.
/// Library functions used as ops take their args from their signature.
const OUTPUT_ARGS: &[(&str, &[&str])] = &[
    ("FusedBatchNorm", &["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"]),
    ("FusedBatchNormV2", &["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"]),
    (
        "FusedBatchNormV3",
        &["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3"],
    ),
    ("TopKV2", &["values", "indices"]),
    ("TopK", &["values", "indices"]),
    ("Unique", &["y", "idx"]),
    ("UniqueV2", &["y", "idx"]),
    ("UniqueWithCounts", &["y", "idx", "count"]),
    ("BroadcastGradientArgs", &["r0", "r1"]),
    ("NonMaxSuppressionV4", &["selected_indices", "valid_outputs"]),
    ("NonMaxSuppressionV5", &["selected_indices", "selected_scores", "valid_outputs"]),
    ("QuantizeV2", &["output", "output_min", "output_max"]),
    ("Switch", &["output_false", "output_true"]),
    ("Merge", &["output", "value_index"]),
    ("LSTMBlockCell", &["i", "cs", "f", "o", "ci", "co", "h"]),
    ("GRUBlockCell", &["r", "u", "c", "h"]),
    ("Qr", &["q", "r"]),
    ("Svd", &["s", "u", "v"]),
];

/// The type and shape of a subgraph result.
type Spec = (DataType, Vec<i64>);

/// An argument of a function lowered as a subgraph.
pub(super) enum Arg {
    /// Substituted into the body (a constant: captured weights, invariant bounds).
    Fixed(V),
    /// A subgraph input of this type and shape.
    Input(DataType, Vec<i64>),
}

/// "node:arg:k" → (node, Some(arg), k); "node:k" → (node, None, k); "x" → (x, None, 0).
fn split_endpoint(s: &str) -> (&str, Option<&str>, usize) {
    let mut parts = s.splitn(3, ':');
    let node = parts.next().unwrap_or("");
    match (parts.next(), parts.next()) {
        (Some(arg), Some(k)) => (node, Some(arg), k.parse().unwrap_or(0)),
        (Some(k), None) => match k.parse() {
            Ok(k) => (node, None, k),
            Err(_) => (node, Some(k), 0),
        },
        _ => (node, None, 0),
    }
}

fn func_attr(n: &NodeDef, k: &str) -> R<String> {
    match attr(n, k) {
        Some(Value::Func(f)) => Ok(f.name.clone()),
        _ => err(format!("has no function attr {k:?}")),
    }
}

/// Whether the function returns its input arg `i` unchanged as result `i`
/// (through Identity nodes): a loop invariant of a While body.
fn returns_arg(f: &FunctionDef, i: usize) -> bool {
    let Some(sig) = &f.signature else { return false };
    let (Some(input), Some(output)) = (sig.input_arg.get(i), sig.output_arg.get(i)) else { return false };
    let mut e = f.ret.get(&output.name).map(String::as_str);
    for _ in 0..64 {
        let Some(s) = e else { return false };
        if s == input.name {
            return true;
        }
        if sig.input_arg.iter().any(|a| a.name == s) {
            return false;
        }
        let (node, _, _) = split_endpoint(s);
        match f.node_def.iter().find(|n| n.name == node) {
            Some(n) if n.op == "Identity" => e = n.input.first().map(String::as_str),
            _ => return false,
        }
    }
    false
}

/// Whether body endpoint `s` is input arg `arg`, directly or through Identity nodes.
fn traces_to(f: &FunctionDef, s: &str, arg: &str) -> bool {
    let mut e = s;
    for _ in 0..64 {
        if e == arg {
            return true;
        }
        let (node, _, _) = split_endpoint(e);
        match f.node_def.iter().find(|n| n.name == node) {
            Some(n) if n.op == "Identity" && !n.input.is_empty() => e = &n.input[0],
            _ => return false,
        }
    }
    false
}

/// The truth of a constant condition as TF's If sees it: a scalar is true when
/// non-zero, any other tensor when it is non-empty.
fn truth(c: &Const) -> bool {
    if c.shape.is_empty() {
        c.data.iter().any(|&b| b != 0)
    } else {
        c.numel() > 0
    }
}

impl<'a> Lowering<'a> {
    /// The TF1 control-flow error for the first such node of `nodes`, if any.
    pub(super) fn tf1_control_flow(&self, nodes: impl IntoIterator<Item = usize>) -> Option<ImportError> {
        nodes
            .into_iter()
            .map(|i| &self.nodes[i])
            .find(|n| TF1_CONTROL_FLOW.contains(&n.op.as_str()))
            .map(|n| ImportError::Tf1ControlFlow { node: n.name.clone(), op: n.op.clone() })
    }

    fn function(&self, name: &str) -> R<&'a FunctionDef> {
        match self.lib.get(name) {
            Some(f) => Ok(f),
            None => err(format!("uses function {name:?}, which is not in the graph's function library")),
        }
    }

    /// Lowers the body of function `fname` into the current graph with `args`
    /// as its arguments and returns its results in signature order. Node
    /// names get `prefix/` when it is not empty.
    pub(super) fn expand(&mut self, fname: &str, args: Vec<V>, prefix: &str) -> R<Vec<V>> {
        let f = self.function(fname)?;
        let n_in = f.signature.as_ref().map_or(0, |s| s.input_arg.len());
        if self.calls.iter().any(|c| c == fname) {
            return err(format!("function {fname:?} calls itself (directly or through others): not supported"));
        }
        if self.calls.len() >= MAX_CALL_DEPTH {
            return err(format!("functions nest more than {MAX_CALL_DEPTH} deep at {fname:?}"));
        }
        if n_in != args.len() {
            return err(format!("function {fname:?} takes {n_in} arguments, given {}", args.len()));
        }
        self.calls.push(fname.to_string());
        let r = self.expand_body(f, args, prefix);
        self.calls.pop();
        r
    }

    fn expand_body(&mut self, f: &'a FunctionDef, args: Vec<V>, prefix: &str) -> R<Vec<V>> {
        let Some(sig) = &f.signature else { return err("a function has no signature") };
        let fname = sig.name.as_str();
        let argmap: HashMap<&str, usize> =
            sig.input_arg.iter().enumerate().map(|(i, a)| (a.name.as_str(), i)).collect();
        let nodemap: HashMap<&str, usize> = f.node_def.iter().enumerate().map(|(i, n)| (n.name.as_str(), i)).collect();
        let mut rets = Vec::with_capacity(sig.output_arg.len());
        for a in &sig.output_arg {
            match f.ret.get(&a.name) {
                Some(r) => rets.push(r.as_str()),
                None => return err(format!("function {fname:?} does not say what it returns as {:?}", a.name)),
            }
        }
        let order = body_order(f, &argmap, &nodemap, &rets)?;
        let mut vals: Vec<Option<Vec<V>>> = vec![None; f.node_def.len()];
        for i in order {
            let node = &f.node_def[i];
            if TF1_CONTROL_FLOW.contains(&node.op.as_str()) {
                return Err(LErr::Msg(
                    ImportError::Tf1ControlFlow { node: node.name.clone(), op: node.op.clone() }.to_string(),
                ));
            }
            let mut ins = Vec::with_capacity(node.input.len());
            for inp in node.input.iter().filter(|s| !s.starts_with('^')) {
                ins.push(self.endpoint(f, &argmap, &nodemap, &args, &vals, inp)?);
            }
            let renamed;
            let node_ref = if prefix.is_empty() {
                node
            } else {
                renamed = NodeDef { name: format!("{prefix}/{}", node.name), ..node.clone() };
                &renamed
            };
            vals[i] = Some(self.lower_recorded(fname, node_ref, ins)?);
        }
        rets.iter().map(|r| self.endpoint(f, &argmap, &nodemap, &args, &vals, r)).collect()
    }

    /// The value of a body endpoint: an input arg or `node:arg:k`.
    fn endpoint(
        &self,
        f: &FunctionDef,
        argmap: &HashMap<&str, usize>,
        nodemap: &HashMap<&str, usize>,
        args: &[V],
        vals: &[Option<Vec<V>>],
        s: &str,
    ) -> R<V> {
        if let Some(&i) = argmap.get(s) {
            return Ok(args[i].clone());
        }
        let (node, arg, k) = split_endpoint(s);
        let Some(&ni) = nodemap.get(node) else { return err(format!("{s:?} is not a node of the function")) };
        let flat = self.flat_index(&f.node_def[ni], arg, k)?;
        match &vals[ni] {
            Some(v) if flat < v.len() => Ok(v[flat].clone()),
            Some(v) if v.first().is_some_and(|x| matches!(x, V::Unknown)) => Ok(V::Unknown),
            _ => err(format!("{s:?} is not an output of node {node:?}")),
        }
    }

    /// The flat output index of `node:arg:k`.
    fn flat_index(&self, node: &NodeDef, arg: Option<&str>, k: usize) -> R<usize> {
        let Some(arg) = arg else { return Ok(k) };
        if let Some((_, list)) = OUTPUT_ARGS.iter().find(|(op, _)| *op == node.op) {
            return match list.iter().position(|a| *a == arg) {
                Some(p) => Ok(p + k),
                None => err(format!("{} has no output {arg:?}", node.op)),
            };
        }
        if let Some(sig) = self.lib.get(node.op.as_str()).and_then(|f| f.signature.as_ref()) {
            let mut base = 0;
            for a in &sig.output_arg {
                if a.name == arg {
                    return Ok(base + k);
                }
                base += if !a.number_attr.is_empty() {
                    attr_i(node, &a.number_attr, 1).max(0) as usize
                } else if !a.type_list_attr.is_empty() {
                    match attr(node, &a.type_list_attr) {
                        Some(Value::List(l)) => l.r#type.len(),
                        _ => 0,
                    }
                } else {
                    1
                };
            }
            return err(format!("function {:?} has no output {arg:?}", node.op));
        }
        Ok(k)
    }

    /// Lowers one body node the way the main graph's are: unsupported ops are
    /// collected for the one error at the end, other errors name the function.
    fn lower_recorded(&mut self, fname: &str, node: &NodeDef, ins: Vec<V>) -> R<Vec<V>> {
        let unknown = || vec![V::Unknown; 8];
        self.note_list_item(node, &ins);
        if ins.iter().any(|v| matches!(v, V::Unknown)) {
            if let Err(LErr::Unsupported) = self.lower(node, vec![]) {
                self.unsupported.entry(node.op.clone()).or_default().push(node.name.clone());
            }
            return Ok(unknown());
        }
        match self.lower(node, ins) {
            Ok(v) => Ok(v),
            Err(LErr::Unsupported) => {
                self.unsupported.entry(node.op.clone()).or_default().push(node.name.clone());
                Ok(unknown())
            }
            Err(LErr::Msg(m)) => err(format!("in function {fname:?}, node {:?} ({}): {m}", node.name, node.op)),
        }
    }

    /// Lowers function `fname` as a subgraph of its own and returns its index
    /// in the model with the type and shape of each result kept (`keep[k]`,
    /// all when `keep` is short). `Unsupported` when a body op is.
    pub(super) fn lower_subgraph(&mut self, fname: &str, args: &[Arg], keep: &[bool]) -> R<(i32, Vec<Spec>)> {
        let f = self.function(fname)?;
        let Some(sig) = &f.signature else { return err("a function has no signature") };
        if sig.input_arg.len() != args.len() {
            return err(format!("function {fname:?} takes {} arguments, given {}", sig.input_arg.len(), args.len()));
        }
        let outer_g = std::mem::take(&mut self.g);
        let outer_cache = std::mem::take(&mut self.cache);
        self.g.name = fname.to_string();
        let mut vals = Vec::with_capacity(args.len());
        for (a, def) in args.iter().zip(&sig.input_arg) {
            match a {
                Arg::Fixed(v) => vals.push(v.clone()),
                Arg::Input(dtype, shape) => {
                    let t = self.g.add(crate::graphdef::T {
                        name: def.name.clone(),
                        dtype: *dtype,
                        shape: shape.clone(),
                        data: None,
                    });
                    self.g.inputs.push(t);
                    self.g.input_names.push(def.name.clone());
                    vals.push(V::T(t));
                }
            }
        }
        let result = self.expand(fname, vals, "").and_then(|outs| {
            let mut specs = Vec::new();
            for (k, v) in outs.iter().enumerate() {
                if !keep.get(k).copied().unwrap_or(true) {
                    continue;
                }
                let t = self.tensor(v)?;
                self.g.outputs.push((sig.output_arg[k].name.clone(), t));
                specs.push((self.g.tensors[t].dtype, self.shape(t)));
            }
            Ok(specs)
        });
        let sub = std::mem::replace(&mut self.g, outer_g);
        self.cache = outer_cache;
        let specs = result?;
        self.subs.push(sub);
        Ok((self.subs.len() as i32, specs))
    }

    /// While / StatelessWhile → WHILE. Loop variables the body passes through
    /// unchanged and that are constants (captured weights, bounds) become
    /// constants of the bodies instead of loop variables.
    pub(super) fn while_op(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let cond = func_attr(n, "cond")?;
        let body = func_attr(n, "body")?;
        let fb = self.function(&body)?;
        let nv = ins.len();
        let (b_in, b_out) = fb.signature.as_ref().map_or((0, 0), |s| (s.input_arg.len(), s.output_arg.len()));
        if b_in != nv || b_out != nv {
            return err(format!("has {nv} loop variables, but its body takes {b_in} and returns {b_out}"));
        }
        let ins = &self.resolve_loop_lists(fb, ins)?;
        let fixed: Vec<bool> = (0..nv).map(|i| matches!(ins[i], V::C(..)) && returns_arg(fb, i)).collect();
        let mut args = Vec::with_capacity(nv);
        let mut outer = Vec::new();
        for i in 0..nv {
            if fixed[i] {
                args.push(Arg::Fixed(ins[i].clone()));
                continue;
            }
            let t = self.tensor(&ins[i])?;
            outer.push(t);
            args.push(Arg::Input(self.g.tensors[t].dtype, self.shape(t)));
        }
        let unknown = || Ok(vec![V::Unknown; nv.max(8)]);
        let (ci, cspecs) = match self.lower_subgraph(&cond, &args, &[]) {
            Err(LErr::Unsupported) => return unknown(),
            r => r?,
        };
        if cspecs.len() != 1 {
            return err(format!("its condition {cond:?} returns {} values, not one", cspecs.len()));
        }
        let keep: Vec<bool> = fixed.iter().map(|f| !f).collect();
        let (bi, bspecs) = match self.lower_subgraph(&body, &args, &keep) {
            Err(LErr::Unsupported) => return unknown(),
            r => r?,
        };
        let mut outs = Vec::with_capacity(outer.len());
        for (j, &t) in outer.iter().enumerate() {
            let (dtype, shape) = (self.g.tensors[t].dtype, self.shape(t));
            let (bd, bs) = &bspecs[j];
            if *bd != dtype || *bs != shape {
                return err(format!(
                    "a loop variable goes in as {dtype:?} {shape:?} and comes out of the body as {bd:?} {bs:?}: \
                     loop variables must keep their type and shape"
                ));
            }
            outs.push((out_name(&n.name, j), dtype, shape));
        }
        let opts = WhileOptionsT { cond_subgraph_index: ci, body_subgraph_index: bi };
        let ts = self.emit(
            BuiltinOperator::WHILE,
            outer.iter().map(|&t| t as i32).collect(),
            outs,
            BuiltinOptionsT::WhileOptions(Box::new(opts)),
        );
        let mut it = ts.into_iter();
        Ok((0..nv).map(|i| if fixed[i] { ins[i].clone() } else { V::T(it.next().unwrap_or_default()) }).collect())
    }

    /// Loop variables that are TensorLists of a still unknown element shape
    /// get it from the items the body writes: the body is lowered once on
    /// trial (into a graph that is thrown away) with those lists unknown.
    fn resolve_loop_lists(&mut self, fb: &'a FunctionDef, ins: &[V]) -> R<Vec<V>> {
        let pending: Vec<usize> = (0..ins.len()).filter(|&i| self.pending_list(&ins[i]).is_some()).collect();
        if pending.is_empty() {
            return Ok(ins.to_vec());
        }
        let Some(sig) = &fb.signature else { return err("a function has no signature") };
        let mut args = Vec::with_capacity(ins.len());
        for (i, v) in ins.iter().enumerate() {
            if pending.contains(&i) || matches!(v, V::C(..)) {
                args.push(Arg::Fixed(if pending.contains(&i) { V::Unknown } else { v.clone() }));
            } else {
                let t = self.tensor(v)?;
                args.push(Arg::Input(self.g.tensors[t].dtype, self.shape(t)));
            }
        }
        let (n_subs, unsupported, n_warn) = (self.subs.len(), self.unsupported.clone(), self.warnings.len());
        self.list_probe(true);
        let _ = self.lower_subgraph(&sig.name, &args, &[]);
        let seen = self.list_probe(false).unwrap_or_default();
        self.subs.truncate(n_subs);
        self.unsupported = unsupported;
        self.warnings.truncate(n_warn);
        let mut out = ins.to_vec();
        for i in pending {
            let arg = sig.input_arg[i].name.as_str();
            let writer = fb
                .node_def
                .iter()
                .find(|n| n.op == "TensorListSetItem" && n.input.first().is_some_and(|s| traces_to(fb, s, arg)));
            let item = writer.and_then(|w| seen.get(&w.name));
            match item {
                Some(item) => out[i] = self.materialize_list(&ins[i], item)?,
                None => {
                    return err("a TensorList loop variable needs a static element shape (none is written in the body)")
                }
            }
        }
        Ok(out)
    }

    /// If / StatelessIf → IF (a constant condition inlines the branch taken).
    /// Constant arguments (captured weights) become constants of the branches.
    pub(super) fn if_op(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        need(ins, 1)?;
        let then_b = func_attr(n, "then_branch")?;
        let else_b = func_attr(n, "else_branch")?;
        let args = &ins[1..];
        if let V::C(c, _) = &ins[0] {
            let taken = if truth(c) { then_b } else { else_b };
            return self.expand(&taken, args.to_vec(), &n.name);
        }
        let mut cond = self.tensor(&ins[0])?;
        let cshape = self.shape(cond);
        if cshape.iter().product::<i64>() != 1 {
            return err(format!("the condition must be one value, not shape {cshape:?}"));
        }
        if self.g.tensors[cond].dtype != DataType::Bool {
            let dtype = self.g.tensors[cond].dtype;
            let zero = self.g.add_const(format!("{}/zero", n.name), Const::from_i64(dtype, vec![], &[0]));
            cond = self.emit1(
                BuiltinOperator::NOT_EQUAL,
                vec![cond as i32, zero as i32],
                &format!("{}/cond", n.name),
                DataType::Bool,
                cshape,
                BuiltinOptionsT::NotEqualOptions(Box::default()),
            );
        }
        let mut fargs = Vec::with_capacity(args.len());
        let mut inputs = vec![cond as i32];
        for v in args {
            if let V::C(..) = v {
                fargs.push(Arg::Fixed(v.clone()));
            } else {
                let t = self.tensor(v)?;
                inputs.push(t as i32);
                fargs.push(Arg::Input(self.g.tensors[t].dtype, self.shape(t)));
            }
        }
        let unknown = || Ok(vec![V::Unknown; 8]);
        let (ti, tspecs) = match self.lower_subgraph(&then_b, &fargs, &[]) {
            Err(LErr::Unsupported) => return unknown(),
            r => r?,
        };
        let (ei, especs) = match self.lower_subgraph(&else_b, &fargs, &[]) {
            Err(LErr::Unsupported) => return unknown(),
            r => r?,
        };
        if tspecs != especs {
            return err(format!(
                "its branches return different types or shapes ({tspecs:?} and {especs:?}): \
                 the importer needs one static shape per result"
            ));
        }
        let outs = tspecs.into_iter().enumerate().map(|(k, (d, s))| (out_name(&n.name, k), d, s)).collect();
        let opts = IfOptionsT { then_subgraph_index: ti, else_subgraph_index: ei };
        let ts = self.emit(BuiltinOperator::IF, inputs, outs, BuiltinOptionsT::IfOptions(Box::new(opts)));
        Ok(ts.into_iter().map(V::T).collect())
    }

    /// PartitionedCall / StatefulPartitionedCall / a library function used as
    /// an op: inlined, its nodes named under the caller.
    pub(super) fn call_op(&mut self, n: &NodeDef, ins: Vec<V>) -> R<Vec<V>> {
        let fname = if n.op.ends_with("PartitionedCall") { func_attr(n, "f")? } else { n.op.clone() };
        self.expand(&fname, ins, &n.name)
    }

    /// Comparisons and logic (loop conditions): folded when constant.
    pub(super) fn compare(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        type F = fn(f64, f64) -> bool;
        let (code, opts, f): (BuiltinOperator, BuiltinOptionsT, F) = match n.op.as_str() {
            "Less" => (BuiltinOperator::LESS, BuiltinOptionsT::LessOptions(Box::default()), |a, b| a < b),
            "LessEqual" => {
                (BuiltinOperator::LESS_EQUAL, BuiltinOptionsT::LessEqualOptions(Box::default()), |a, b| a <= b)
            }
            "Greater" => (BuiltinOperator::GREATER, BuiltinOptionsT::GreaterOptions(Box::default()), |a, b| a > b),
            "GreaterEqual" => {
                (BuiltinOperator::GREATER_EQUAL, BuiltinOptionsT::GreaterEqualOptions(Box::default()), |a, b| a >= b)
            }
            "Equal" => (BuiltinOperator::EQUAL, BuiltinOptionsT::EqualOptions(Box::default()), |a, b| a == b),
            "NotEqual" => (BuiltinOperator::NOT_EQUAL, BuiltinOptionsT::NotEqualOptions(Box::default()), |a, b| a != b),
            "LogicalAnd" => {
                (BuiltinOperator::LOGICAL_AND, BuiltinOptionsT::LogicalAndOptions(Box::default()), |a, b| {
                    a != 0.0 && b != 0.0
                })
            }
            "LogicalOr" => (BuiltinOperator::LOGICAL_OR, BuiltinOptionsT::LogicalOrOptions(Box::default()), |a, b| {
                a != 0.0 || b != 0.0
            }),
            _ => {
                need(ins, 1)?;
                if let V::C(c, _) = &ins[0] {
                    let v: Vec<i64> = c.i64s().iter().map(|&x| i64::from(x == 0)).collect();
                    return Ok(vec![V::C(Const::from_i64(DataType::Bool, c.shape.clone(), &v), name.into())]);
                }
                let x = self.tensor(&ins[0])?;
                let shape = self.shape(x);
                let opts = BuiltinOptionsT::LogicalNotOptions(Box::default());
                let t = self.emit1(BuiltinOperator::LOGICAL_NOT, vec![x as i32], name, DataType::Bool, shape, opts);
                return Ok(vec![V::T(t)]);
            }
        };
        need(ins, 2)?;
        if let (V::C(a, _), V::C(b, _)) = (&ins[0], &ins[1]) {
            let shape = consts::broadcast_shape(&a.shape, &b.shape).ok_or("operands do not broadcast")?;
            let (xa, xb) = (values_f64(a), values_f64(b));
            let count = consts::numel(&shape).ok_or("bad shape")?;
            let v: Vec<i64> = (0..count)
                .map(|i| i64::from(f(xa[bcast(i, &shape, &a.shape)], xb[bcast(i, &shape, &b.shape)])))
                .collect();
            return Ok(vec![V::C(Const::from_i64(DataType::Bool, shape, &v), name.into())]);
        }
        let ta = self.tensor(&ins[0])?;
        let tb = self.tensor(&ins[1])?;
        let (sa, sb) = (self.shape(ta), self.shape(tb));
        let shape =
            consts::broadcast_shape(&sa, &sb).ok_or_else(|| format!("shapes {sa:?} and {sb:?} do not broadcast"))?;
        Ok(vec![V::T(self.emit1(code, vec![ta as i32, tb as i32], name, DataType::Bool, shape, opts))])
    }

    /// Range with constant bounds (sequence lengths of RNN loops).
    pub(super) fn range(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        need(ins, 3)?;
        let mut v = [0f64; 3];
        for (i, x) in v.iter_mut().enumerate() {
            let c = Self::cin(ins, i, "start, limit and delta")?;
            *x = *values_f64(c).first().ok_or("an empty range bound")?;
        }
        let [start, limit, delta] = v;
        if delta == 0.0 {
            return err("delta is 0");
        }
        let count = ((limit - start) / delta).ceil().max(0.0);
        if count > 1e7 {
            return err("the range is too long to fold");
        }
        let dtype = attr_type(n, "Tidx").unwrap_or(Self::cin(ins, 0, "start")?.dtype);
        let vals: Vec<f64> = (0..count as usize).map(|i| start + i as f64 * delta).collect();
        let c = if matches!(dtype, DataType::Float | DataType::Double | DataType::Half | DataType::Bfloat16) {
            Const::from_f32(vec![vals.len() as i64], &vals.iter().map(|&x| x as f32).collect::<Vec<_>>()).cast(dtype)
        } else {
            Const::from_i64(dtype, vec![vals.len() as i64], &vals.iter().map(|&x| x as i64).collect::<Vec<_>>())
        };
        Ok(vec![V::C(c, n.name.clone())])
    }
}

fn values_f64(c: &Const) -> Vec<f64> {
    if c.is_float() {
        c.f32s().into_iter().map(f64::from).collect()
    } else {
        c.i64s().into_iter().map(|x| x as f64).collect()
    }
}

/// The element of an operand of shape `inp` that output element `i` (of
/// shape `out`, the broadcast shape) reads.
fn bcast(mut i: usize, out: &[i64], inp: &[i64]) -> usize {
    let mut idx = 0;
    let mut stride = 1;
    let off = out.len() - inp.len();
    for d in (0..out.len()).rev() {
        let o = out[d] as usize;
        let pos = i % o.max(1);
        i /= o.max(1);
        if d >= off {
            let s = inp[d - off] as usize;
            if s > 1 {
                idx += pos * stride;
            }
            stride *= s.max(1);
        }
    }
    idx
}

/// Body nodes the results need, in topological order.
fn body_order(
    f: &FunctionDef,
    argmap: &HashMap<&str, usize>,
    nodemap: &HashMap<&str, usize>,
    roots: &[&str],
) -> R<Vec<usize>> {
    let fname = f.signature.as_ref().map_or("", |s| s.name.as_str());
    let node_of = |s: &str| -> R<Option<usize>> {
        if argmap.contains_key(s) {
            return Ok(None);
        }
        let (node, _, _) = split_endpoint(s);
        match nodemap.get(node) {
            Some(&i) => Ok(Some(i)),
            None => err(format!("function {fname:?} reads {s:?}, which is neither an argument nor a node")),
        }
    };
    let mut state = vec![0u8; f.node_def.len()];
    let mut order = Vec::new();
    for r in roots {
        let Some(start) = node_of(r)? else { continue };
        let mut stack = vec![(start, 0usize)];
        while let Some((i, next)) = stack.pop() {
            if next == 0 {
                if state[i] == 2 {
                    continue;
                }
                state[i] = 1;
            }
            let mut pushed = false;
            for (j, inp) in f.node_def[i].input.iter().enumerate().skip(next) {
                if inp.starts_with('^') {
                    continue;
                }
                let Some(s) = node_of(inp)? else { continue };
                match state[s] {
                    1 => return err(format!("function {fname:?} has a cycle through node {:?}", f.node_def[s].name)),
                    2 => {}
                    _ => {
                        stack.push((i, j + 1));
                        stack.push((s, 0));
                        pushed = true;
                        break;
                    }
                }
            }
            if !pushed {
                state[i] = 2;
                order.push(i);
            }
        }
    }
    Ok(order)
}
