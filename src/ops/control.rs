//! Control flow and state: WHILE, IF and CALL_ONCE run other subgraphs; VAR_HANDLE,
//! READ_VARIABLE and ASSIGN_VARIABLE keep resource variables for the length of a run.

use super::util::{inp, scalar_int};
use super::{opts, EvalCtx, KResult, OpDef, Prepared};
use crate::ir::{Value, Values};
use crate::schema::{BuiltinOperator as B, BuiltinOptionsT as O};

pub(super) fn register(add: &mut dyn FnMut(OpDef)) {
    add(OpDef::builtin(B::WHILE).kernel(prepare_while).calls(|o| match o {
        O::WhileOptions(w) => vec![w.cond_subgraph_index, w.body_subgraph_index],
        _ => Vec::new(),
    }));
    add(OpDef::builtin(B::IF).kernel(prepare_if).calls(|o| match o {
        O::IfOptions(w) => vec![w.then_subgraph_index, w.else_subgraph_index],
        _ => Vec::new(),
    }));
    add(OpDef::builtin(B::CALL_ONCE).kernel(prepare_call_once).calls(|o| match o {
        O::CallOnceOptions(c) => vec![c.init_subgraph_index],
        _ => Vec::new(),
    }));
    add(OpDef::builtin(B::VAR_HANDLE).kernel(prepare_var_handle));
    add(OpDef::builtin(B::READ_VARIABLE).kernel(|_| Ok(Prepared::new(read_variable))));
    add(OpDef::builtin(B::ASSIGN_VARIABLE).kernel(|_| Ok(Prepared::new(assign_variable))));
}

/// More iterations than this and a WHILE is taken to never end (a hostile or broken model).
pub const MAX_WHILE_ITERATIONS: usize = 1_000_000;

/// Every input, present, as owned values.
fn owned(ins: &[Option<&Value>]) -> KResult<Vec<Value>> {
    (0..ins.len()).map(|i| inp(ins, i).cloned()).collect()
}

/// The truth of a condition tensor: its one element, BOOL (or a number, non-zero).
fn truth(v: &Value) -> KResult<bool> {
    let one = |n: usize| if n == 1 { Ok(()) } else { Err(format!("a condition must hold one value, not {n}")) };
    one(v.values.len())?;
    Ok(match &v.values {
        Values::Bool(x) => x[0],
        Values::F32(x) => x[0] != 0.0,
        Values::I32(x) => x[0] != 0,
        Values::I64(x) => x[0] != 0,
        Values::U8(x) => x[0] != 0,
        Values::I8(x) => x[0] != 0,
        Values::I16(x) => x[0] != 0,
        Values::C64(_) => return Err("a complex condition".into()),
    })
}

fn index(i: i32) -> KResult<usize> {
    usize::try_from(i).map_err(|_| format!("subgraph index {i}"))
}

fn prepare_while(ctx: &super::PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, WhileOptions);
    let (cond, body) = (index(o.cond_subgraph_index)?, index(o.body_subgraph_index)?);
    Ok(Prepared::new(move |ins, ctx: &mut EvalCtx| {
        let mut vars = owned(ins)?;
        for _ in 0..MAX_WHILE_ITERATIONS {
            let c = ctx.call(cond, vars.clone())?;
            if !truth(c.first().ok_or("the condition subgraph has no output")?)? {
                return Ok(vars);
            }
            let n = vars.len();
            vars = ctx.call(body, vars)?;
            if vars.len() != n {
                return Err(format!("the body gives {} values for {n} loop variables", vars.len()));
            }
        }
        Err(format!("WHILE ran {MAX_WHILE_ITERATIONS} iterations without its condition turning false"))
    }))
}

fn prepare_if(ctx: &super::PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, IfOptions);
    let (then, other) = (index(o.then_subgraph_index)?, index(o.else_subgraph_index)?);
    Ok(Prepared::new(move |ins, ctx: &mut EvalCtx| {
        let branch = if truth(inp(ins, 0)?)? { then } else { other };
        ctx.call(branch, owned(&ins[1..])?)
    }))
}

fn prepare_call_once(ctx: &super::PrepareCtx) -> KResult<Prepared> {
    let init = index(opts!(ctx, CallOnceOptions).init_subgraph_index)?;
    Ok(Prepared::new(move |_, ctx: &mut EvalCtx| {
        if !ctx.state()?.called_once.contains(&init) {
            ctx.state()?.called_once.push(init);
            let outs = ctx.call(init, Vec::new())?;
            if !outs.is_empty() {
                return Err(format!("the init subgraph has {} outputs; it must have none", outs.len()));
            }
        }
        Ok(Vec::new())
    }))
}

fn prepare_var_handle(ctx: &super::PrepareCtx) -> KResult<Prepared> {
    let o = opts!(ctx, VarHandleOptions);
    let key = (o.container.unwrap_or_default(), o.shared_name.unwrap_or_default());
    Ok(Prepared::new(move |_, ctx: &mut EvalCtx| {
        let state = ctx.state()?;
        let id = match state.resources.iter().position(|k| *k == key) {
            Some(id) => id,
            None => {
                state.resources.push(key.clone());
                state.variables.push(None);
                state.resources.len() - 1
            }
        };
        // A resource handle is held as its id.
        Ok(vec![Value::new(Vec::new(), Values::I32(vec![id as i32].into()))])
    }))
}

/// The variable a handle names.
fn handle(v: &Value) -> KResult<usize> {
    usize::try_from(scalar_int(v)?).map_err(|_| "a negative resource handle".to_string())
}

fn read_variable(ins: &[Option<&Value>], ctx: &mut EvalCtx) -> KResult<Vec<Value>> {
    let id = handle(inp(ins, 0)?)?;
    match ctx.state()?.variables.get(id) {
        Some(Some(v)) => Ok(vec![v.clone()]),
        Some(None) => Err(format!("resource variable {id} is read before anything assigns it")),
        None => Err(format!("resource variable {id} does not exist")),
    }
}

fn assign_variable(ins: &[Option<&Value>], ctx: &mut EvalCtx) -> KResult<Vec<Value>> {
    let id = handle(inp(ins, 0)?)?;
    let value = inp(ins, 1)?.clone();
    let slot = ctx.state()?.variables.get_mut(id).ok_or_else(|| format!("resource variable {id} does not exist"))?;
    *slot = Some(value);
    Ok(Vec::new())
}
