//! Helpers the op families share: reading inputs, shapes and axes, broadcasting, fused
//! activations, and gathering elements by per-dimension index tables.

use super::KResult;
use crate::ir::{Buf, Value, Values};
use crate::kernels::Clamp;
use crate::schema::ActivationFunctionType;

/// Input `i` (an error when it is missing).
pub(crate) fn inp<'a>(ins: &[Option<&'a Value>], i: usize) -> KResult<&'a Value> {
    ins.get(i).copied().flatten().ok_or_else(|| format!("input {i} is missing"))
}

/// Optional input `i`.
pub(crate) fn opt_inp<'a>(ins: &[Option<&'a Value>], i: usize) -> Option<&'a Value> {
    ins.get(i).copied().flatten()
}

/// An integer tensor's elements as i64.
pub(crate) fn ints(v: &Value) -> KResult<Vec<i64>> {
    match &v.values {
        Values::I32(x) => Ok(x.iter().map(|&a| i64::from(a)).collect()),
        Values::I64(x) => Ok(x.to_vec()),
        other => Err(format!("expected an INT32/INT64 tensor, got {}", other.type_name())),
    }
}

pub(crate) fn scalar_int(v: &Value) -> KResult<i64> {
    let x = ints(v)?;
    match x[..] {
        [a] => Ok(a),
        _ => Err(format!("expected one integer, got {} values", x.len())),
    }
}

/// Non-negative sizes from an integer tensor.
pub(crate) fn sizes(v: &Value, what: &str) -> KResult<Vec<usize>> {
    ints(v)?.iter().map(|&d| usize::try_from(d).map_err(|_| format!("bad {what} {d}"))).collect()
}

/// The elements of a value that must be FLOAT32 and whole.
pub(crate) fn f32s<'a>(v: &'a Value, what: &str) -> KResult<&'a [f32]> {
    let x = v.as_f32().ok_or_else(|| format!("{what} must be FLOAT32, got {}", v.values.type_name()))?;
    if x.len() != v.numel() {
        return Err(format!("{what} has {} values for shape {:?}", x.len(), v.shape));
    }
    Ok(x)
}

/// A 4-D shape.
pub(crate) fn dims4(shape: &[usize], what: &str) -> KResult<[usize; 4]> {
    match *shape {
        [a, b, c, d] => Ok([a, b, c, d]),
        _ => Err(format!("{what} must be 4-D, got {shape:?}")),
    }
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Most elements a computed tensor may have (2^31), so a malformed model gets an error, not an abort.
pub const MAX_ELEMENTS: usize = 1 << 31;

/// The element count of `shape`, refusing overflow, sizes beyond [`MAX_ELEMENTS`] and tensors
/// (of up to 8-byte elements, counted as 4) over the memory budget ([`crate::ir::budget`]).
pub fn checked_numel(shape: &[usize]) -> KResult<usize> {
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("a tensor of shape {} is too large", crate::ir::cap_list(shape, 8)))?;
    crate::ir::budget::check_elements(n as u64, 4, || format!("a tensor of shape {}", crate::ir::cap_list(shape, 8)))
        .map_err(|e| e.to_string())?;
    Ok(n)
}

/// A normalized axis in 0..rank (negative counts from the end).
pub fn axis(a: i64, rank: usize) -> KResult<usize> {
    let r = rank as i64;
    let x = if a < 0 { a + r } else { a };
    if x < 0 || x >= r {
        return Err(format!("axis {a} is out of range for rank {rank}"));
    }
    Ok(x as usize)
}

/// A value's element count must match its shape.
pub(crate) fn check(v: &Value) -> KResult<()> {
    if v.values.len() != v.numel() {
        return Err(format!("tensor has {} values for shape {:?}", v.values.len(), v.shape));
    }
    Ok(())
}

/// The numpy broadcast of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> KResult<Vec<usize>> {
    crate::ir::broadcast_shape(a, b).ok_or_else(|| format!("shapes {a:?} and {b:?} do not broadcast"))
}

/// Strides of `shape` read as broadcast to `out` (0 along broadcast dimensions).
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let r = out.len();
    let mut strides = vec![0; r];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        let o = i + r - shape.len();
        strides[o] = if shape[i] == 1 && out[o] != 1 { 0 } else { s };
        s *= shape[i];
    }
    strides
}

/// The clamp a fused activation is, or None for those that are not clamps (TANH, SIGN_BIT).
pub fn clamp_of(act: ActivationFunctionType) -> Option<Clamp> {
    let (lo, hi) = match act {
        ActivationFunctionType::NONE => return Some(Clamp::NONE),
        ActivationFunctionType::RELU => (0.0, f32::INFINITY),
        ActivationFunctionType::RELU6 => (0.0, 6.0),
        ActivationFunctionType::RELU_N1_TO_1 => (-1.0, 1.0),
        _ => return None,
    };
    Some(Clamp { lo, hi })
}

/// Applies a fused activation in place.
pub fn activate(x: &mut [f32], act: ActivationFunctionType) -> KResult<()> {
    match act {
        ActivationFunctionType::NONE => {}
        ActivationFunctionType::RELU => x.iter_mut().for_each(|v| *v = v.max(0.0)),
        ActivationFunctionType::RELU6 => x.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        ActivationFunctionType::RELU_N1_TO_1 => x.iter_mut().for_each(|v| *v = v.clamp(-1.0, 1.0)),
        ActivationFunctionType::TANH => x.iter_mut().for_each(|v| *v = v.tanh()),
        ActivationFunctionType::SIGN_BIT => {
            x.iter_mut().for_each(|v| *v = if v.is_sign_negative() { 1.0 } else { 0.0 })
        }
        other => return Err(format!("unknown fused activation {}", other.0)),
    }
    Ok(())
}

/// Applies a fused activation to integers in place (TANH and SIGN_BIT have no integer meaning).
pub(crate) fn activate_int<T: Copy + PartialOrd + From<i8>>(x: &mut [T], act: ActivationFunctionType) -> KResult<()> {
    let clamp = |v: &mut T, lo: Option<i8>, hi: Option<i8>| {
        if let Some(lo) = lo {
            if *v < T::from(lo) {
                *v = T::from(lo);
            }
        }
        if let Some(hi) = hi {
            if *v > T::from(hi) {
                *v = T::from(hi);
            }
        }
    };
    match act {
        ActivationFunctionType::NONE => {}
        ActivationFunctionType::RELU => x.iter_mut().for_each(|v| clamp(v, Some(0), None)),
        ActivationFunctionType::RELU6 => x.iter_mut().for_each(|v| clamp(v, Some(0), Some(6))),
        ActivationFunctionType::RELU_N1_TO_1 => x.iter_mut().for_each(|v| clamp(v, Some(-1), Some(1))),
        other => return Err(format!("fused activation {} on integers", other.0)),
    }
    Ok(())
}

/// Marks an element of a gather table that takes the fill value.
pub(crate) const FILL: usize = usize::MAX;

/// out[i0, …, ik] = src[Σ tables[d][i_d] · stride_d], or `fill` where any table entry is FILL.
/// The output shape is the tables' lengths; every non-FILL entry must be < shape[d].
pub(crate) fn gather_tables<T: Copy + Default>(
    src: &[T],
    shape: &[usize],
    tables: &[Vec<usize>],
    fill: T,
) -> KResult<Buf<T>> {
    if tables.len() != shape.len() {
        return Err("rank mismatch".into());
    }
    for (d, t) in tables.iter().enumerate() {
        if t.iter().any(|&i| i != FILL && i >= shape[d]) {
            return Err(format!("index out of range for dimension {d} of {shape:?}"));
        }
    }
    let st = strides(shape);
    let out_shape: Vec<usize> = tables.iter().map(Vec::len).collect();
    let n = checked_numel(&out_shape)?;
    let mut out = Buf::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let r = shape.len();
    if r == 0 {
        out.push(*src.first().ok_or("empty scalar")?);
        return Ok(out);
    }
    let last = &tables[r - 1];
    let mut idx = vec![0usize; r - 1];
    let rows: usize = out_shape[..r - 1].iter().product();
    for _ in 0..rows {
        let mut base = 0usize;
        let mut pad = false;
        for d in 0..r - 1 {
            let t = tables[d][idx[d]];
            if t == FILL {
                pad = true;
                break;
            }
            base += t * st[d];
        }
        if pad {
            out.extend(std::iter::repeat(fill).take(last.len()));
        } else {
            for &t in last {
                out.push(if t == FILL { fill } else { src[base + t * st[r - 1]] });
            }
        }
        for d in (0..r - 1).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}

/// Applies per-dimension gather tables to a value of any type.
pub(crate) fn gather_value(v: &Value, tables: &[Vec<usize>]) -> KResult<Value> {
    check(v)?;
    let shape = tables.iter().map(Vec::len).collect();
    let values = crate::map_values!(&v.values, x => gather_tables(x, &v.shape, tables, Default::default())?);
    Ok(Value::new(shape, values))
}

/// The version of an op with integer kernels at version 2: integer (int8 and 16x8) 2, float 1.
pub(crate) fn integer_2(s: &super::OpSignature) -> i32 {
    if s.integer(0) {
        2
    } else {
        1
    }
}

/// One output.
pub(crate) fn one(v: Value) -> KResult<Vec<Value>> {
    Ok(vec![v])
}

/// A custom op's flexbuffer options, read key by key; every error names the key.
pub(crate) struct FlexOptions<'a>(pub crate::flexbuffer::Map<'a>);

impl<'a> FlexOptions<'a> {
    fn get(&self, key: &str) -> KResult<Option<crate::flexbuffer::Ref<'a>>> {
        self.0.get(key).map_err(|e| format!("option {key:?}: {e}"))
    }

    fn read<T>(
        &self,
        key: &str,
        f: impl FnOnce(&crate::flexbuffer::Ref<'a>) -> crate::flexbuffer::Result<T>,
    ) -> KResult<Option<T>> {
        match self.get(key)? {
            Some(r) if !r.is_null() => f(&r).map(Some).map_err(|e| format!("option {key:?}: {e}")),
            _ => Ok(None),
        }
    }

    pub fn i32(&self, key: &str) -> KResult<Option<i32>> {
        self.read(key, |r| r.as_i32())
    }

    pub fn f32(&self, key: &str) -> KResult<Option<f32>> {
        self.read(key, |r| r.as_f32())
    }

    pub fn bool(&self, key: &str) -> KResult<Option<bool>> {
        self.read(key, |r| r.as_bool())
    }

    pub fn str(&self, key: &str) -> KResult<Option<&'a str>> {
        self.read(key, |r| r.as_str())
    }

    /// A vector of ints that each fit in i32.
    pub fn i32s(&self, key: &str) -> KResult<Option<Vec<i32>>> {
        let Some(v) = self.read(key, |r| r.as_vector()?.to_i64s())? else { return Ok(None) };
        let v = v.into_iter().map(i32::try_from).collect::<Result<Vec<_>, _>>();
        v.map(Some).map_err(|_| format!("option {key:?}: a value does not fit in 32 bits"))
    }
}

/// A required option.
pub(crate) fn required<T>(v: Option<T>, key: &str) -> KResult<T> {
    v.ok_or_else(|| format!("option {key:?} is missing"))
}
