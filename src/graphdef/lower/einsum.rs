//! `Einsum` lowered the way TF's converter rewrites it (the `tf-einsum` pass): the
//! labels split into batch (both operands and the output), free (one operand and the
//! output) and contracted (both operands only); each operand is transposed to
//! `[batch…, free…, contracted…]` / `[batch…, contracted…, free…]`, reshaped to a batch
//! matmul, multiplied, reshaped back and transposed to the output's label order.
//! A constant right operand without batch labels becomes FULLY_CONNECTED
//! (keep_num_dims), as TF's BATCH_MATMUL → FULLY_CONNECTED rewrite does.

use super::attrs::*;
use super::{err, need, Lowering, R, V};
use crate::graphdef::consts::{self, Const};
use crate::graphdef::proto::{DataType, NodeDef};
use crate::schema::*;

/// The operand and output labels of a two-operand equation.
struct Eq {
    lhs: Vec<u8>,
    rhs: Vec<u8>,
    out: Vec<u8>,
}

fn parse(eq: &str) -> Option<Eq> {
    let (ins, out) = eq.split_once("->")?;
    let (lhs, rhs) = ins.split_once(',')?;
    let labels = |s: &str| -> Option<Vec<u8>> {
        let v: Vec<u8> = s.trim().bytes().collect();
        let mut seen = v.clone();
        seen.sort_unstable();
        seen.dedup();
        (v.iter().all(u8::is_ascii_alphabetic) && seen.len() == v.len()).then_some(v)
    };
    Some(Eq { lhs: labels(lhs)?, rhs: labels(rhs)?, out: labels(out)? })
}

fn pos(v: &[u8], c: u8) -> Option<usize> {
    v.iter().position(|&x| x == c)
}

fn is_identity(p: &[usize]) -> bool {
    p.iter().enumerate().all(|(i, &v)| i == v)
}

/// `p` with its last two entries swapped.
fn swap_last(p: &[usize]) -> Vec<usize> {
    let mut q = p.to_vec();
    let n = q.len();
    if n >= 2 {
        q.swap(n - 1, n - 2);
    }
    q
}

impl Lowering<'_> {
    /// Transpose of a value (folded for constants, nothing for the identity).
    fn permute_v(&mut self, x: V, perm: &[usize], name: &str) -> R<V> {
        if is_identity(perm) {
            return Ok(x);
        }
        if let V::C(c, _) = &x {
            return Ok(V::C(consts::transpose(c, perm), name.to_string()));
        }
        let t = self.tensor(&x)?;
        let xs = self.shape(t);
        let shape: Vec<i64> = perm.iter().map(|&p| xs[p]).collect();
        let p: Vec<i64> = perm.iter().map(|&p| p as i64).collect();
        let pt = self.i32_const(format!("{name}/perm"), vec![p.len() as i64], &p);
        let dt = self.g.tensors[t].dtype;
        let opts = BuiltinOptionsT::TransposeOptions(Box::default());
        Ok(V::T(self.emit1(BuiltinOperator::TRANSPOSE, vec![t as i32, pt as i32], name, dt, shape, opts)))
    }

    /// Reshape unless the value already has `shape`.
    fn reshape_if(&mut self, x: V, shape: Vec<i64>, name: &str) -> R<V> {
        if self.shape_of(&x)? == shape {
            return Ok(x);
        }
        self.reshape_v(&x, shape, name)
    }

    pub(super) fn einsum(&mut self, n: &NodeDef, ins: &[V]) -> R<Vec<V>> {
        let name = n.name.as_str();
        let eq_s = attr_s(n, "equation", "");
        let refuse = |why: &str| err(format!("Einsum equation {eq_s:?} is not supported: {why}"));
        if ins.len() != 2 {
            return refuse("only two-operand equations are lowered");
        }
        need(ins, 2)?;
        if eq_s.contains('.') {
            return refuse("ellipsis (...) is not supported");
        }
        let Some(eq) = parse(&eq_s) else {
            return refuse("it is not of the form ab,bc->ac with distinct labels per operand");
        };
        let sl = self.shape_of(&ins[0])?;
        let sr = self.shape_of(&ins[1])?;
        if sl.len() != eq.lhs.len() || sr.len() != eq.rhs.len() {
            return refuse(&format!("operand ranks {} and {} do not match it", sl.len(), sr.len()));
        }
        // Label classes, in TF's order: batch and lhs labels in lhs order, rhs-free in rhs order.
        let (mut batch, mut lhs_out, mut contract, mut rhs_out) = (vec![], vec![], vec![], vec![]);
        for &c in &eq.lhs {
            match (pos(&eq.rhs, c).is_some(), pos(&eq.out, c).is_some()) {
                (true, true) => batch.push(c),
                (false, true) => lhs_out.push(c),
                (true, false) => contract.push(c),
                (false, false) => return refuse("a label summed over one operand only"),
            }
        }
        for &c in &eq.rhs {
            match (pos(&eq.lhs, c).is_some(), pos(&eq.out, c).is_some()) {
                (false, true) => rhs_out.push(c),
                (false, false) => return refuse("a label summed over one operand only"),
                _ => {}
            }
        }
        if eq.out.iter().any(|&c| pos(&eq.lhs, c).is_none() && pos(&eq.rhs, c).is_none()) {
            return refuse("an output label in neither operand");
        }
        let dim_l = |c: u8| sl[pos(&eq.lhs, c).unwrap()];
        let dim_r = |c: u8| sr[pos(&eq.rhs, c).unwrap()];
        for &c in batch.iter().chain(&contract) {
            if dim_l(c) != dim_r(c) {
                return refuse(&format!("label {} has sizes {} and {}", c as char, dim_l(c), dim_r(c)));
            }
        }
        let lperm: Vec<usize> =
            batch.iter().chain(&lhs_out).chain(&contract).map(|&c| pos(&eq.lhs, c).unwrap()).collect();
        let rperm: Vec<usize> =
            batch.iter().chain(&contract).chain(&rhs_out).map(|&c| pos(&eq.rhs, c).unwrap()).collect();
        let prod = |v: &[u8], d: &dyn Fn(u8) -> i64| v.iter().map(|&c| d(c)).product::<i64>();
        let bdims: Vec<i64> = batch.iter().map(|&c| dim_l(c)).collect();
        let csize = prod(&contract, &dim_l);
        let rsize = prod(&rhs_out, &dim_r);
        // The matmul's row dims: one 1 when lhs has no free label, the free dims as
        // they are without batch labels, else their product.
        let lrows: Vec<i64> = if lhs_out.is_empty() {
            vec![1]
        } else if batch.is_empty() {
            lhs_out.iter().map(|&c| dim_l(c)).collect()
        } else {
            vec![prod(&lhs_out, &dim_l)]
        };
        let lshape: Vec<i64> = bdims.iter().chain(&lrows).copied().chain([csize]).collect();
        let rshape: Vec<i64> = bdims.iter().copied().chain([csize, rsize]).collect();

        // A transpose that only swaps the last two dims becomes adj_x / adj_y
        // (not for the constant right operand, which is rewritten anyway).
        let (mut adj_x, mut adj_y) = (false, false);
        let (mut lperm_eff, mut rperm_eff) = (lperm.clone(), rperm.clone());
        let l_reshaped = lshape != lperm.iter().map(|&p| sl[p]).collect::<Vec<_>>();
        let r_reshaped = rshape != rperm.iter().map(|&p| sr[p]).collect::<Vec<_>>();
        if !is_identity(&lperm) && !l_reshaped && is_identity(&swap_last(&lperm)) && !batch.is_empty() {
            adj_x = true;
            lperm_eff = swap_last(&lperm);
        }
        let rhs_const = matches!(ins[1], V::C(..));
        if !is_identity(&rperm) && !r_reshaped && is_identity(&swap_last(&rperm)) && !rhs_const {
            adj_y = true;
            rperm_eff = swap_last(&rperm);
        }
        let a = self.permute_v(ins[0].clone(), &lperm_eff, &format!("{name}/lhs_transpose"))?;
        let a = if adj_x { a } else { self.reshape_if(a, lshape.clone(), &format!("{name}/lhs_reshape"))? };
        let b = self.permute_v(ins[1].clone(), &rperm_eff, &format!("{name}/rhs_transpose"))?;
        let b = if adj_y { b } else { self.reshape_if(b, rshape.clone(), &format!("{name}/rhs_reshape"))? };

        // Result before the final reshape/transpose: [batch…, free lhs…, free rhs…].
        let pre: Vec<u8> = batch.iter().chain(&lhs_out).chain(&rhs_out).copied().collect();
        let pre_shape: Vec<i64> = pre.iter().map(|&c| pos(&eq.lhs, c).map_or_else(|| dim_r(c), |_| dim_l(c))).collect();
        let out_perm: Vec<usize> = eq.out.iter().map(|&c| pos(&pre, c).unwrap()).collect();
        let mm_shape: Vec<i64> = bdims.iter().chain(&lrows).copied().chain([rsize]).collect();
        let last = mm_shape == pre_shape && is_identity(&out_perm);
        let mm_name = if last { name.to_string() } else { format!("{name}/matmul") };
        let y = self.einsum_matmul(a, b, adj_x, adj_y, mm_shape, &mm_name)?;
        let last = is_identity(&out_perm);
        let rname = if last { name.to_string() } else { format!("{name}/reshape") };
        let y = self.reshape_if(y, pre_shape, &rname)?;
        Ok(vec![self.permute_v(y, &out_perm, name)?])
    }

    /// The batch matmul of the einsum: FULLY_CONNECTED for a constant 2-D right operand.
    fn einsum_matmul(&mut self, a: V, b: V, adj_x: bool, adj_y: bool, shape: Vec<i64>, name: &str) -> R<V> {
        if let (V::C(w, _), false, false) = (&b, adj_x, matches!(a, V::C(..))) {
            if w.shape.len() == 2 && w.is_float() {
                let wt = consts::transpose(w, &[1, 0]).cast(DataType::Float);
                let x = self.tensor(&a)?;
                let wt = self.g.add_const(format!("{name}/weights"), wt);
                let opts = BuiltinOptionsT::FullyConnectedOptions(Box::new(FullyConnectedOptionsT {
                    keep_num_dims: true,
                    ..Default::default()
                }));
                let code = BuiltinOperator::FULLY_CONNECTED;
                return Ok(V::T(self.emit1(code, vec![x as i32, wt as i32, -1], name, DataType::Float, shape, opts)));
            }
        }
        if let (V::C(x, _), V::C(y, _)) = (&a, &b) {
            if !adj_x && !adj_y {
                if let Some(c) = fold_matmul(x, y) {
                    return Ok(V::C(c, name.to_string()));
                }
            }
        }
        let ta = self.tensor(&a)?;
        let tb = self.tensor(&b)?;
        let dt = self.g.tensors[ta].dtype;
        let opts = BuiltinOptionsT::BatchMatMulOptions(Box::new(BatchMatMulOptionsT {
            adj_x,
            adj_y,
            asymmetric_quantize_inputs: false,
        }));
        Ok(V::T(self.emit1(BuiltinOperator::BATCH_MATMUL, vec![ta as i32, tb as i32], name, dt, shape, opts)))
    }
}

/// Batch matmul of two float constants with equal batch dims (small ones only).
fn fold_matmul(a: &Const, b: &Const) -> Option<Const> {
    let (ra, rb) = (a.shape.len(), b.shape.len());
    if ra < 2 || ra != rb || a.shape[..ra - 2] != b.shape[..rb - 2] || !a.is_float() || !b.is_float() {
        return None;
    }
    let (m, k, n) = (a.shape[ra - 2] as usize, a.shape[ra - 1] as usize, b.shape[rb - 1] as usize);
    if b.shape[rb - 2] as usize != k {
        return None;
    }
    let batch: usize = a.shape[..ra - 2].iter().product::<i64>() as usize;
    if batch.checked_mul(m)?.checked_mul(n)?.checked_mul(k)? > 1 << 24 {
        return None;
    }
    let (x, y) = (a.f32s(), b.f32s());
    let mut out = vec![0f32; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f32;
                for l in 0..k {
                    s += x[bi * m * k + i * k + l] * y[bi * k * n + l * n + j];
                }
                out[bi * m * n + i * n + j] = s;
            }
        }
    }
    let mut shape = a.shape[..ra - 1].to_vec();
    shape.push(n as i64);
    Some(Const::from_f32(shape, &out))
}
