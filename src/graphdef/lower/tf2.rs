//! Ops TF2/Keras exports add: comparisons, Select/SelectV2, BroadcastTo,
//! BroadcastArgs and Range (folded when constant, as TF's converter does).

use super::{err, need, Lowering, R, V};
use crate::graphdef::consts::{self, Const};
use crate::graphdef::proto::{DataType, NodeDef};
use crate::schema::*;

impl Lowering<'_> {
    fn dtype_of(&self, v: &V) -> DataType {
        match v {
            V::C(c, _) => c.dtype,
            V::T(t) => self.g.tensors[*t].dtype,
            _ => DataType::Float,
        }
    }

    /// SELECT when the three shapes agree (TF's choice), SELECT_V2 when they broadcast.
    pub(super) fn select(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 3)?;
        // A constant value operand with one repeated value is a scalar to SelectV2 (as TF
        // turns where(c, zeros_like(x), y) into a broadcast 0).
        let mut ins = ins[..3].to_vec();
        if n.op == "SelectV2" {
            for v in ins[1..].iter_mut() {
                if let V::C(c, nm) = v {
                    if c.numel() > 1 && c.f32s().windows(2).all(|w| w[0].to_bits() == w[1].to_bits()) {
                        *v = V::C(
                            consts::strided_gather(c, &vec![(0, 1, 1); c.shape.len()]).reshaped(vec![]),
                            nm.clone(),
                        );
                    }
                }
            }
        }
        let ins = &ins[..];
        let s: Vec<Vec<i64>> = ins[..3].iter().map(|v| self.shape_of(v)).collect::<R<_>>()?;
        let mut shape = s[0].clone();
        for x in &s[1..] {
            shape = consts::broadcast_shape(&shape, x).ok_or_else(|| format!("shapes {s:?} do not broadcast"))?;
        }
        if n.op == "Select" && s[0] != s[1] && !(s[0].len() == 1 && s[0][0] == s[1].first().copied().unwrap_or(-1)) {
            return err(format!("Select with condition shape {:?} for values {:?}", s[0], s[1]));
        }
        let dt = self.dtype_of(&ins[1]);
        let t: Vec<i32> = ins[..3].iter().map(|v| self.tensor(v).map(|t| t as i32)).collect::<R<_>>()?;
        let (code, opts) = if s.iter().all(|x| *x == shape) {
            (BuiltinOperator::SELECT, BuiltinOptionsT::SelectOptions(Box::default()))
        } else {
            (BuiltinOperator::SELECT_V2, BuiltinOptionsT::SelectV2Options(Box::default()))
        };
        Ok(vec![V::T(self.emit1(code, t, name, dt, shape, opts))])
    }

    pub(super) fn broadcast_to(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 2)?;
        let xs = self.shape_of(&ins[0])?;
        let target = Self::cin(ins, 1, "shape")?.i64s();
        let shape = consts::broadcast_shape(&xs, &target)
            .filter(|s| *s == target)
            .ok_or_else(|| format!("{xs:?} does not broadcast to {target:?}"))?;
        if xs == shape {
            return Ok(vec![ins[0].clone()]);
        }
        if let V::C(c, _) = &ins[0] {
            let n_ = consts::numel(&shape).ok_or("size overflows")?;
            let zeros = Const::from_i64(c.dtype, shape.clone(), &vec![0; n_]);
            if let Some(r) = consts::binary(consts::Bin::Add, &zeros, c) {
                return Ok(vec![V::C(r, name.into())]);
            }
        }
        let x = self.tensor(&ins[0])?;
        let st = self.i32_const(format!("{name}/shape"), vec![target.len() as i64], &target);
        let dt = self.g.tensors[x].dtype;
        let opts = BuiltinOptionsT::BroadcastToOptions(Box::default());
        Ok(vec![V::T(self.emit1(BuiltinOperator::BROADCAST_TO, vec![x as i32, st as i32], name, dt, shape, opts))])
    }

    /// BroadcastArgs of two shape vectors: static shapes make it a constant.
    pub(super) fn broadcast_args(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        need(ins, 2)?;
        let a = Self::cin(ins, 0, "s0")?;
        let b = Self::cin(ins, 1, "s1")?;
        let (x, y) = (a.i64s(), b.i64s());
        let s = consts::broadcast_shape(&x, &y).ok_or_else(|| format!("shapes {x:?} and {y:?} do not broadcast"))?;
        Ok(vec![V::C(Const::from_i64(a.dtype, vec![s.len() as i64], &s), n.name.clone())])
    }
}
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;

impl Lowering<'_> {
    fn unary_op(&mut self, code: BuiltinOperator, x: &V, name: &str) -> R<V> {
        let t = self.tensor(x)?;
        let (dt, shape) = (self.g.tensors[t].dtype, self.shape(t));
        Ok(V::T(self.emit1(code, vec![t as i32], name, dt, shape, BuiltinOptionsT::NONE)))
    }

    fn scalar(v: f32, name: String) -> V {
        V::C(Const::from_f32(vec![], &[v]), name)
    }

    /// Activations TF's converter writes as several builtins: Softplus → log(exp(x) + 1),
    /// Softsign → x / (|x| + 1), Expm1 → exp(x) − 1, Selu → select(x > 0, s·x, s·α·(exp(x) − 1)).
    pub(super) fn decomposed(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let op = n.op.as_str();
        need(ins, 1)?;
        if let V::C(c, _) = &ins[0] {
            let f: fn(f32) -> f32 = match op {
                "Softplus" => |v: f32| (v.exp() + 1.0).ln(),
                "Softsign" => |v: f32| v / (v.abs() + 1.0),
                "Expm1" => f32::exp_m1,
                _ => |v: f32| if v > 0.0 { SELU_SCALE * v } else { SELU_SCALE * SELU_ALPHA * v.exp_m1() },
            };
            return Ok(vec![V::C(consts::unary(c, f), name.into())]);
        }
        let x = ins[0].clone();
        let one = Self::scalar(1.0, format!("{name}/one"));
        let y = match op {
            "Softplus" => {
                let e = self.unary_op(BuiltinOperator::EXP, &x, &format!("{name}/exp"))?;
                let a = self.binary_v(consts::Bin::Add, &e, &one, &format!("{name}/add"))?;
                self.unary_op(BuiltinOperator::LOG, &a, name)?
            }
            "Softsign" => {
                let ab = self.unary_op(BuiltinOperator::ABS, &x, &format!("{name}/abs"))?;
                let a = self.binary_v(consts::Bin::Add, &ab, &one, &format!("{name}/add"))?;
                self.binary_v(consts::Bin::Div, &x, &a, name)?
            }
            "Expm1" => {
                let e = self.unary_op(BuiltinOperator::EXP, &x, &format!("{name}/exp"))?;
                self.binary_v(consts::Bin::Sub, &e, &one, name)?
            }
            _ => {
                let t = self.tensor(&x)?;
                let shape = self.shape(t);
                let zero = Self::scalar(0.0, format!("{name}/zero"));
                let z = self.tensor(&zero)?;
                let opts = BuiltinOptionsT::GreaterOptions(Box::default());
                let gt = self.emit1(
                    BuiltinOperator::GREATER,
                    vec![t as i32, z as i32],
                    &format!("{name}/greater"),
                    DataType::Bool,
                    shape.clone(),
                    opts,
                );
                let s = Self::scalar(SELU_SCALE, format!("{name}/scale"));
                let pos = self.binary_v(consts::Bin::Mul, &x, &s, &format!("{name}/pos"))?;
                let e = self.unary_op(BuiltinOperator::EXP, &x, &format!("{name}/exp"))?;
                let em1 = self.binary_v(consts::Bin::Sub, &e, &one, &format!("{name}/expm1"))?;
                let sa = Self::scalar(SELU_SCALE * SELU_ALPHA, format!("{name}/scale_alpha"));
                let neg = self.binary_v(consts::Bin::Mul, &em1, &sa, &format!("{name}/neg"))?;
                let (p, q) = (self.tensor(&pos)?, self.tensor(&neg)?);
                let opts = BuiltinOptionsT::SelectOptions(Box::default());
                let code = BuiltinOperator::SELECT;
                V::T(self.emit1(code, vec![gt as i32, p as i32, q as i32], name, DataType::Float, shape, opts))
            }
        };
        Ok(vec![y])
    }
}

impl Lowering<'_> {
    /// GatherV2 (params, indices, axis) and Gather (axis 0) → GATHER; folded when both
    /// params and indices are constant.
    pub(super) fn gather(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 2)?;
        let ps = self.shape_of(&ins[0])?;
        let is = self.shape_of(&ins[1])?;
        let axis_raw = if n.op == "GatherV2" {
            need(ins, 3)?;
            *Self::cin(ins, 2, "axis")?.i64s().first().ok_or("axis is empty")?
        } else {
            0
        };
        let axis = super::attrs::norm_axis(axis_raw, ps.len())?;
        let batch_dims = super::attrs::attr_i(n, "batch_dims", 0);
        if batch_dims != 0 {
            return err(format!("batch_dims {batch_dims} is not supported"));
        }
        let shape: Vec<i64> = ps[..axis].iter().chain(&is).chain(&ps[axis + 1..]).copied().collect();
        if let (V::C(p, _), V::C(ix, _)) = (&ins[0], &ins[1]) {
            let idx = ix.i64s();
            if idx.iter().any(|&i| i < 0 || i >= ps[axis]) {
                return err(format!("index out of range [0, {})", ps[axis]));
            }
            if idx.len() <= 4096 {
                let parts: Vec<Const> = idx
                    .iter()
                    .map(|&i| {
                        let spec: Vec<(i64, i64, i64)> =
                            (0..ps.len()).map(|d| if d == axis { (i, 1, 1) } else { (0, 1, ps[d]) }).collect();
                        consts::strided_gather(p, &spec)
                    })
                    .collect();
                let refs: Vec<&Const> = parts.iter().collect();
                if let Some(c) = consts::concat(&refs, axis) {
                    return Ok(vec![V::C(c.reshaped(shape), name.into())]);
                }
            }
        }
        let p = self.tensor(&ins[0])?;
        let i = self.tensor(&ins[1])?;
        let dt = self.g.tensors[p].dtype;
        let opts = BuiltinOptionsT::GatherOptions(Box::new(GatherOptionsT { axis: axis_raw as i32, batch_dims: 0 }));
        Ok(vec![V::T(self.emit1(BuiltinOperator::GATHER, vec![p as i32, i as i32], name, dt, shape, opts))])
    }
}

impl Lowering<'_> {
    /// Tile with constant multiples → TILE (folded for a constant input).
    pub(super) fn tile(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        need(ins, 2)?;
        let xs = self.shape_of(&ins[0])?;
        let m = Self::cin(ins, 1, "multiples")?.i64s();
        if m.len() != xs.len() || m.iter().any(|&v| !(0..=1 << 20).contains(&v)) {
            return err(format!("multiples {m:?} do not fit the input rank {}", xs.len()));
        }
        let shape: Vec<i64> = xs.iter().zip(&m).map(|(&d, &k)| d.saturating_mul(k)).collect();
        if m.iter().all(|&k| k == 1) {
            return Ok(vec![ins[0].clone()]);
        }
        if let V::C(c, _) = &ins[0] {
            if consts::numel(&shape).is_some_and(|s| s <= 1 << 22) {
                let mut cur = c.clone();
                for (axis, &k) in m.iter().enumerate() {
                    if k != 1 {
                        let parts: Vec<&Const> = std::iter::repeat(&cur).take(k as usize).collect();
                        cur = consts::concat(&parts, axis).ok_or("cannot fold Tile")?;
                    }
                }
                return Ok(vec![V::C(cur, name.into())]);
            }
        }
        let x = self.tensor(&ins[0])?;
        let mt = self.i32_const(format!("{name}/multiples"), vec![m.len() as i64], &m);
        let dt = self.g.tensors[x].dtype;
        let opts = BuiltinOptionsT::TileOptions(Box::default());
        Ok(vec![V::T(self.emit1(BuiltinOperator::TILE, vec![x as i32, mt as i32], name, dt, shape, opts))])
    }
}
