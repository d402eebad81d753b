//! TensorList ops (Keras RNN loops) lowered to dense tensors, as TF's
//! converter does: a list of `n` elements of shape `e` is a `[n, e…]` tensor.
//! Reserve → zeros, FromTensor and Stack → the tensor itself, GetItem →
//! GATHER on axis 0, SetItem → SELECT_V2 of the item where the row index is
//! the one written (exact, and cheaper than TF's slice+concat). An element
//! shape with an unknown batch (Keras writes `[-1, units]`) takes the batch
//! of the graph's first input. Any other unknown element shape (a
//! `tf.TensorArray` without `element_shape`) is taken from the items written:
//! the list stays an empty placeholder until a SetItem, or a While body that
//! writes it (found by lowering the body once on trial), shows their shape.

use super::attrs::*;
use super::{err, need, LErr, Lowering, R, V};
use crate::graphdef::consts::{self, Const};
use crate::graphdef::proto::{DataType, NodeDef};
use crate::schema::*;
use std::collections::HashMap;

/// Lists whose element shape is not known yet, and the item shapes a trial
/// lowering of a loop body saw.
#[derive(Default)]
pub(super) struct Lists {
    /// Reserve's constant name → (element dtype, count, partial element shape; None: unknown rank).
    pending: HashMap<String, (DataType, i64, Option<Vec<i64>>)>,
    /// During a trial: SetItem node → the shape of the item it writes.
    probe: Option<HashMap<String, Vec<i64>>>,
}

/// Larger zero lists than this (elements) are refused rather than stored.
const MAX_LIST_ELEMENTS: usize = 1 << 26;

impl Lowering<'_> {
    pub(super) fn tensor_list(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        match n.op.as_str() {
            "TensorListReserve" => {
                need(ins, 2)?;
                let es = Self::cin(ins, 0, "element shape")?.clone();
                let num = Self::cin(ins, 1, "number of elements")?.i64s();
                let dtype = attr_type(n, "element_dtype").ok_or("has no element_dtype")?;
                let count = match num.as_slice() {
                    [k] if *k >= 0 => *k,
                    _ => return err("needs a known number of elements"),
                };
                let Some(elem) = self.element_shape(&es) else {
                    // An empty stand-in until the items show the shape.
                    let partial = (!es.shape.is_empty()).then(|| es.i64s());
                    self.lists.pending.insert(name.into(), (dtype, count, partial));
                    return Ok(vec![V::C(Const::from_i64(dtype, vec![count, 0], &[]), name.into())]);
                };
                let mut shape = vec![count];
                shape.extend(elem);
                let numel = consts::numel(&shape).filter(|&k| k <= MAX_LIST_ELEMENTS).ok_or("the list is too large")?;
                Ok(vec![V::C(Const::from_i64(dtype, shape, &vec![0; numel]), name.into())])
            }
            "TensorListStack" if self.pending_list(ins.first().unwrap_or(&V::Unknown)).is_some() => {
                // Never written: zeros of the element shape Stack gives.
                need(ins, 2)?;
                let es = Self::cin(ins, 1, "element shape")?;
                match self.element_shape(es) {
                    Some(item) => Ok(vec![self.materialize_list(&ins[0], &item)?]),
                    None => err("needs a static element shape"),
                }
            }
            "TensorListFromTensor" | "TensorListStack" => {
                need(ins, 1)?;
                if self.shape_of(&ins[0])?.is_empty() {
                    return err("the tensor must have rank 1 or more");
                }
                Ok(vec![ins[0].clone()])
            }
            "TensorListLength" | "TensorListElementShape" => {
                need(ins, 1)?;
                let s = self.shape_of(&ins[0])?;
                if s.is_empty() {
                    return err("the list has no elements dimension");
                }
                if n.op == "TensorListLength" {
                    return Ok(vec![V::C(Const::from_i64(DataType::Int32, vec![], &s[..1]), name.into())]);
                }
                let dtype = attr_type(n, "shape_type").unwrap_or(DataType::Int32);
                Ok(vec![V::C(Const::from_i64(dtype, vec![s.len() as i64 - 1], &s[1..]), name.into())])
            }
            "TensorListGetItem" => self.list_get(n, ins),
            "TensorListSetItem" => self.list_set(n, ins),
            _ => Err(LErr::Unsupported),
        }
    }

    /// A list's element shape with an unknown leading (batch) dim resolved;
    /// None when it is not static.
    fn element_shape(&self, es: &Const) -> Option<Vec<i64>> {
        if es.shape.is_empty() {
            return None;
        }
        let mut dims = es.i64s();
        for (i, d) in dims.iter_mut().enumerate() {
            if *d < 0 {
                match (i, self.batch_hint) {
                    (0, Some(b)) => *d = b,
                    _ => return None,
                }
            }
        }
        Some(dims)
    }

    /// The list placeholder `v` stands for, if it is one.
    pub(super) fn pending_list(&self, v: &V) -> Option<(DataType, i64, Option<Vec<i64>>)> {
        match v {
            V::C(c, name) if c.numel() == 0 => self.lists.pending.get(name).cloned(),
            _ => None,
        }
    }

    /// The zeros a placeholder list becomes once its items' shape is known.
    pub(super) fn materialize_list(&self, v: &V, item: &[i64]) -> R<V> {
        let Some((dtype, count, partial)) = self.pending_list(v) else { return Ok(v.clone()) };
        if let Some(p) = &partial {
            let fits = p.len() == item.len() && p.iter().zip(item).all(|(&a, &b)| a < 0 || a == b);
            if !fits {
                return err(format!("items of shape {item:?} are written to a list of element shape {p:?}"));
            }
        }
        let mut shape = vec![count];
        shape.extend_from_slice(item);
        let numel = consts::numel(&shape).filter(|&k| k <= MAX_LIST_ELEMENTS).ok_or("the list is too large")?;
        let name = match v {
            V::C(_, name) => name.clone(),
            _ => String::new(),
        };
        Ok(V::C(Const::from_i64(dtype, shape, &vec![0; numel]), name))
    }

    /// Starts (Some) or ends (None, returning what was seen) a trial lowering
    /// that notes the shape of every item a SetItem writes.
    pub(super) fn list_probe(&mut self, on: bool) -> Option<HashMap<String, Vec<i64>>> {
        std::mem::replace(&mut self.lists.probe, on.then(HashMap::new))
    }

    /// Called for every body node during a trial.
    pub(super) fn note_list_item(&mut self, n: &NodeDef, ins: &[V]) {
        if self.lists.probe.is_none() || n.op != "TensorListSetItem" || ins.len() < 3 {
            return;
        }
        if let Ok(s) = self.shape_of(&ins[2]) {
            if let Some(p) = &mut self.lists.probe {
                p.insert(n.name.clone(), s);
            }
        }
    }

    /// ReverseV2 (the backward half of Keras' Bidirectional RNNs): one
    /// REVERSE_V2 per axis, folded for constants.
    pub(super) fn reverse(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        need(ins, 2)?;
        let name = n.name.as_str();
        let shape = self.shape_of(&ins[0])?;
        let mut axes = Vec::new();
        for a in Self::cin(ins, 1, "axis")?.i64s() {
            let a = norm_axis(a, shape.len())?;
            if !axes.contains(&a) {
                axes.push(a);
            }
        }
        if let V::C(c, _) = &ins[0] {
            let spec: Vec<(i64, i64, i64)> = shape
                .iter()
                .enumerate()
                .map(|(i, &d)| if axes.contains(&i) { (d - 1, -1, d) } else { (0, 1, d) })
                .collect();
            return Ok(vec![V::C(consts::strided_gather(c, &spec), name.into())]);
        }
        let mut t = self.tensor(&ins[0])?;
        let dtype = self.g.tensors[t].dtype;
        for (k, &a) in axes.iter().enumerate() {
            let ax = self.i32_const(format!("{name}/axis{k}"), vec![1], &[a as i64]);
            let out = if k + 1 == axes.len() { name.to_string() } else { format!("{name}/{k}") };
            t = self.emit1(
                BuiltinOperator::REVERSE_V2,
                vec![t as i32, ax as i32],
                &out,
                dtype,
                shape.clone(),
                BuiltinOptionsT::ReverseV2Options(Box::default()),
            );
        }
        Ok(vec![V::T(t)])
    }

    fn list_get(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        need(ins, 2)?;
        let name = n.name.as_str();
        let shape = self.shape_of(&ins[0])?;
        if shape.is_empty() {
            return err("the list has no elements dimension");
        }
        if let (V::C(list, _), V::C(i, _)) = (&ins[0], &ins[1]) {
            let k = i.i64s().first().copied().ok_or("an empty index")?;
            if !(0..shape[0]).contains(&k) {
                return err(format!("index {k} is outside the list of {}", shape[0]));
            }
            let mut spec = vec![(k, 1, 1)];
            spec.extend(shape[1..].iter().map(|&d| (0, 1, d)));
            let c = consts::strided_gather(list, &spec).reshaped(shape[1..].to_vec());
            return Ok(vec![V::C(c, name.into())]);
        }
        let list = self.tensor(&ins[0])?;
        let index = self.tensor(&ins[1])?;
        if !self.shape(index).is_empty() {
            return err("the index must be a scalar");
        }
        let dtype = self.g.tensors[list].dtype;
        let opts = BuiltinOptionsT::GatherOptions(Box::new(GatherOptionsT { axis: 0, batch_dims: 0 }));
        let t = self.emit1(
            BuiltinOperator::GATHER,
            vec![list as i32, index as i32],
            name,
            dtype,
            shape[1..].to_vec(),
            opts,
        );
        Ok(vec![V::T(t)])
    }

    fn list_set(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        need(ins, 3)?;
        let name = n.name.as_str();
        let item_shape = self.shape_of(&ins[2])?;
        let list = self.materialize_list(&ins[0], &item_shape)?;
        let shape = self.shape_of(&list)?;
        if shape.is_empty() || shape[1..] != item_shape[..] {
            return err(format!("sets an item of shape {item_shape:?} in a list of shape {shape:?}"));
        }
        let mut row = vec![1];
        row.extend_from_slice(&item_shape);
        let item = self.reshape_v(&ins[2], row, &format!("{name}/item"))?;
        if shape[0] == 1 {
            // The only element: the list is the item.
            return Ok(vec![item]);
        }
        let mut col = vec![shape[0]];
        col.resize(item_shape.len() + 1, 1);
        let mask = match &ins[1] {
            V::C(i, _) => {
                let k = i.i64s().first().copied().ok_or("an empty index")?;
                let v: Vec<i64> = (0..shape[0]).map(|j| i64::from(j == k)).collect();
                self.g.add_const(format!("{name}/mask"), Const::from_i64(DataType::Bool, col, &v))
            }
            v => {
                let index = self.tensor(v)?;
                let idt = self.g.tensors[index].dtype;
                let rows: Vec<i64> = (0..shape[0]).collect();
                let range = self.g.add_const(format!("{name}/rows"), Const::from_i64(idt, col.clone(), &rows));
                self.emit1(
                    BuiltinOperator::EQUAL,
                    vec![range as i32, index as i32],
                    &format!("{name}/mask"),
                    DataType::Bool,
                    col,
                    BuiltinOptionsT::EqualOptions(Box::default()),
                )
            }
        };
        let item = self.tensor(&item)?;
        let list = self.tensor(&list)?;
        let dtype = self.g.tensors[list].dtype;
        let t = self.emit1(
            BuiltinOperator::SELECT_V2,
            vec![mask as i32, item as i32, list as i32],
            name,
            dtype,
            shape,
            BuiltinOptionsT::SelectV2Options(Box::default()),
        );
        Ok(vec![V::T(t)])
    }
}
