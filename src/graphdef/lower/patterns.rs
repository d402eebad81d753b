//! Activation patterns TF's converter fuses, matched on the lowered graph before the
//! other fusions:
//! * GELU (approximate=false): `0.5·x·(1+erf(x/√2))` (or `·x·0.70710678`) and Keras 3's
//!   `0.5·x·erfc(−x·0.70710677)`; GELU (approximate=true):
//!   `0.5·x·(1+tanh(0.7978845608·(x+0.044715·pow(x, 3))))`, with the 0.5 inside one
//!   operand of the outer MUL; like TF 2.21, `x·x·x` and `0.5·(x·(1+tanh(…)))` stay unfused.
//!   (The erf forms are matched in any association: TF cannot convert a lone Erf/Erfc.)
//! * HARD_SWISH: `x·relu6(x+3)/6` and `x·relu6(x+3)·0.16666667` in any association.
//!
//! Erf and Erfc are lowered to placeholder ops; any left after matching is an error
//! (TFLite 2.21 has no ERF builtin). Every intermediate must have one reader, as in TF.

use super::{Lowering, R};
use crate::graphdef::G;
use crate::schema::{ActivationFunctionType as Act, BuiltinOperator as B, BuiltinOptionsT, GeluOptionsT};

/// A placeholder op standing for TF's Erf / Erfc until GELU matching.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub op: usize,
    pub erfc: bool,
    pub node: String,
}

struct M<'g> {
    g: &'g G,
    prods: Vec<Option<usize>>,
    cons: Vec<Vec<usize>>,
    pending: &'g [Pending],
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-4 * b.abs().max(1e-6)
}

impl M<'_> {
    fn scalar(&self, t: i32) -> Option<f32> {
        let c = self.g.tensors.get(usize::try_from(t).ok()?)?.data.as_ref()?;
        (c.is_float() && c.numel() == 1).then(|| c.f32s()[0])
    }

    /// The live producer of `t` when `t` is an intermediate: one reader, not an output.
    fn inner(&self, t: i32) -> Option<usize> {
        let t = usize::try_from(t).ok()?;
        if self.cons[t].len() != 1 || self.g.is_output(t) || self.g.tensors[t].data.is_some() {
            return None;
        }
        self.prods[t]
    }

    fn no_act(&self, op: usize) -> bool {
        match &self.g.ops[op].opts {
            BuiltinOptionsT::MulOptions(o) => o.fused_activation_function == Act::NONE,
            BuiltinOptionsT::DivOptions(o) => o.fused_activation_function == Act::NONE,
            BuiltinOptionsT::AddOptions(o) => o.fused_activation_function == Act::NONE,
            _ => true,
        }
    }

    /// Flattens a product: MUL, DIV by a scalar constant and NEG (each an intermediate,
    /// except the root) into its non-constant leaves and the constant factor.
    fn product(&self, t: i32, root: bool, ops: &mut Vec<usize>, leaves: &mut Vec<i32>, k: &mut f32) {
        if let Some(c) = self.scalar(t) {
            *k *= c;
            return;
        }
        let p = if root { usize::try_from(t).ok().and_then(|u| self.prods[u]) } else { self.inner(t) };
        if let Some(p) = p.filter(|&p| self.no_act(p)) {
            let op = &self.g.ops[p];
            match op.code {
                B::MUL if op.inputs.len() == 2 => {
                    ops.push(p);
                    self.product(op.inputs[0], false, ops, leaves, k);
                    self.product(op.inputs[1], false, ops, leaves, k);
                    return;
                }
                B::DIV if op.inputs.len() == 2 && self.scalar(op.inputs[1]).is_some() => {
                    ops.push(p);
                    *k /= self.scalar(op.inputs[1]).unwrap();
                    self.product(op.inputs[0], false, ops, leaves, k);
                    return;
                }
                B::NEG => {
                    ops.push(p);
                    *k = -*k;
                    self.product(op.inputs[0], false, ops, leaves, k);
                    return;
                }
                _ => {}
            }
        }
        leaves.push(t);
    }

    /// `t` = c·x for the leaf x given: returns c and the ops.
    fn scaled(&self, t: i32, x: i32, ops: &mut Vec<usize>) -> Option<f32> {
        let (mut leaves, mut k) = (Vec::new(), 1.0);
        let mut mine = Vec::new();
        let root_ok = self.inner(t).is_some();
        if !root_ok {
            return None;
        }
        self.product(t, true, &mut mine, &mut leaves, &mut k);
        (leaves == [x]).then(|| {
            ops.extend(mine);
            k
        })
    }

    /// `t` = MUL(c, y) (one op, c a scalar constant): returns (c, y).
    fn scalar_mul(&self, t: i32, ops: &mut Vec<usize>) -> Option<(f32, i32)> {
        let m = self.inner(t)?;
        let op = &self.g.ops[m];
        if op.code != B::MUL || op.inputs.len() != 2 || !self.no_act(m) {
            return None;
        }
        ops.push(m);
        match (self.scalar(op.inputs[0]), self.scalar(op.inputs[1])) {
            (Some(c), None) => Some((c, op.inputs[1])),
            (None, Some(c)) => Some((c, op.inputs[0])),
            _ => None,
        }
    }

    /// The tanh GELU's outer product as TF matches it: `x·(0.5·g)` or `(0.5·x)·g`, with
    /// the 0.5 inside one operand of the root MUL (`0.5·(x·g)` stays unfused).
    fn tf_gelu_shape(&self, root: usize, x: i32, f: i32) -> bool {
        let op = &self.g.ops[root];
        if op.code != B::MUL || op.inputs.len() != 2 || op.inputs.iter().any(|&t| self.scalar(t).is_some()) {
            return false;
        }
        let halved = |t: i32, y: i32| {
            self.inner(t).is_some_and(|m| {
                let mo = &self.g.ops[m];
                mo.code == B::MUL
                    && mo.inputs.len() == 2
                    && mo.inputs.contains(&y)
                    && mo.inputs.iter().any(|&c| self.scalar(c).is_some_and(|c| close(c, 0.5)))
            })
        };
        let (a, b) = (op.inputs[0], op.inputs[1]);
        let pair = |p: i32, q: i32| (p == x && halved(q, f)) || (halved(p, x) && q == f);
        pair(a, b) || pair(b, a)
    }

    /// `t` = ADD(1, f) with f an intermediate: returns f's producer.
    fn one_plus(&self, t: i32, ops: &mut Vec<usize>) -> Option<usize> {
        let a = self.inner(t)?;
        let op = &self.g.ops[a];
        if op.code != B::ADD || op.inputs.len() != 2 || !self.no_act(a) {
            return None;
        }
        let (one, f) = if self.scalar(op.inputs[0]).is_some() { (0, 1) } else { (1, 0) };
        if !close(self.scalar(op.inputs[one])?, 1.0) {
            return None;
        }
        let fp = self.inner(op.inputs[f])?;
        ops.push(a);
        Some(fp)
    }

    fn pending(&self, op: usize) -> Option<&Pending> {
        self.pending.iter().find(|p| p.op == op && !self.g.ops[op].dead)
    }

    /// The GELU of `x` that `g` (the non-x factor) completes, given the constant factor k.
    fn gelu_factor(&self, gt: i32, x: i32, k: f32, ops: &mut Vec<usize>) -> Option<bool> {
        if !close(k, 0.5) {
            return None;
        }
        let gp = self.inner(gt)?;
        if let Some(p) = self.pending(gp).filter(|p| p.erfc) {
            ops.push(p.op);
            let c = self.scaled(self.g.ops[gp].inputs[0], x, ops)?;
            return close(c, -std::f32::consts::FRAC_1_SQRT_2).then_some(false);
        }
        let f = self.one_plus(gt, ops)?;
        if let Some(p) = self.pending(f).filter(|p| !p.erfc) {
            ops.push(p.op);
            let c = self.scaled(self.g.ops[f].inputs[0], x, ops)?;
            return close(c, std::f32::consts::FRAC_1_SQRT_2).then_some(false);
        }
        if self.g.ops[f].code == B::TANH {
            // tanh(c1·(x + c2·pow(x, 3))), each product one MUL (TF leaves x·x·x unfused).
            ops.push(f);
            let (c1, u) = self.scalar_mul(self.g.ops[f].inputs[0], ops)?;
            let uop = &self.g.ops[self.inner(u)?];
            if !close(c1, 0.797_884_6) || uop.code != B::ADD || uop.inputs.len() != 2 {
                return None;
            }
            let uop_i = self.inner(u)?;
            if !self.no_act(uop_i) {
                return None;
            }
            ops.push(uop_i);
            let v = match uop.inputs[..] {
                [a, b] if a == x => b,
                [a, b] if b == x => a,
                _ => return None,
            };
            let (c2, cube) = self.scalar_mul(v, ops)?;
            let pw = self.inner(cube)?;
            let pop = &self.g.ops[pw];
            if close(c2, 0.044715)
                && pop.code == B::POW
                && pop.inputs[0] == x
                && self.scalar(pop.inputs[1]).is_some_and(|e| e == 3.0)
            {
                ops.push(pw);
                return Some(true);
            }
        }
        None
    }

    /// `x · relu6(x + 3)` with constant factor k = 1/6.
    fn hard_swish_factor(&self, rt: i32, x: i32, k: f32, ops: &mut Vec<usize>) -> bool {
        if !close(k, 1.0 / 6.0) {
            return false;
        }
        let Some(r) = self.inner(rt) else { return false };
        if self.g.ops[r].code != B::RELU6 {
            return false;
        }
        let Some(a) = self.inner(self.g.ops[r].inputs[0]) else { return false };
        let aop = &self.g.ops[a];
        if aop.code != B::ADD || aop.inputs.len() != 2 || !self.no_act(a) {
            return false;
        }
        let three = if aop.inputs[0] == x {
            aop.inputs[1]
        } else if aop.inputs[1] == x {
            aop.inputs[0]
        } else {
            return false;
        };
        if !self.scalar(three).is_some_and(|c| close(c, 3.0)) {
            return false;
        }
        ops.extend([r, a]);
        true
    }
}

/// Fuses the GELU and hard-swish patterns; returns the Erf/Erfc nodes left unfused.
pub(crate) fn run(g: &mut G, pending: &[Pending]) -> Vec<Pending> {
    for root in 0..g.ops.len() {
        if g.ops[root].dead || !matches!(g.ops[root].code, B::MUL | B::DIV) {
            continue;
        }
        let m = M { g, prods: g.producers(), cons: g.consumers(), pending };
        let out = g.ops[root].outputs[0] as i32;
        let (mut ops, mut leaves, mut k) = (Vec::new(), Vec::new(), 1.0);
        m.product(out, true, &mut ops, &mut leaves, &mut k);
        if leaves.len() != 2 {
            continue;
        }
        let mut found = None;
        for (xi, gi) in [(0, 1), (1, 0)] {
            let (x, f) = (leaves[xi], leaves[gi]);
            let mut more = Vec::new();
            if let Some(approx) = m.gelu_factor(f, x, k, &mut more).filter(|&a| !a || m.tf_gelu_shape(root, x, f)) {
                found = Some((x, Some(approx), more));
                break;
            }
            let mut more = Vec::new();
            if m.hard_swish_factor(f, x, k, &mut more) {
                found = Some((x, None, more));
                break;
            }
        }
        let Some((x, kind, more)) = found else { continue };
        for &o in ops.iter().chain(&more) {
            if o != root {
                g.ops[o].dead = true;
            }
        }
        let op = &mut g.ops[root];
        op.inputs = vec![x];
        (op.code, op.opts) = match kind {
            Some(approximate) => (B::GELU, BuiltinOptionsT::GeluOptions(Box::new(GeluOptionsT { approximate }))),
            None => (B::HARD_SWISH, BuiltinOptionsT::HardSwishOptions(Box::default())),
        };
    }
    pending.iter().filter(|p| !g.ops[p.op].dead).cloned().collect()
}

impl Lowering<'_> {
    /// Erf / Erfc: folded for a constant, else a placeholder op kept only if it
    /// becomes part of a GELU.
    pub(super) fn erf(&mut self, n: &crate::graphdef::proto::NodeDef, ins: &[super::V]) -> R<Vec<super::V>> {
        super::need(ins, 1)?;
        if let super::V::C(c, _) = &ins[0] {
            let f = if n.op == "Erfc" { crate::graphdef::consts::erfc } else { crate::graphdef::consts::erf };
            let v = crate::graphdef::consts::unary(c, |x| f(x as f64) as f32);
            return Ok(vec![super::V::C(v, n.name.clone())]);
        }
        let t = self.tensor(&ins[0])?;
        let (dt, shape) = (self.g.tensors[t].dtype, self.shape(t));
        let y = self.emit1(B::CUSTOM, vec![t as i32], &n.name, dt, shape, BuiltinOptionsT::NONE);
        let op = self.g.ops.len() - 1;
        self.pending.push(Pending { op, erfc: n.op == "Erfc", node: n.name.clone() });
        Ok(vec![super::V::T(y)])
    }
}
