//! NodeDef attributes and the shape rules of convolution-like ops.

use super::{err, R};
use crate::graphdef::proto::{attr_value::Value, AttrValue, DataType, NodeDef};
use crate::schema::*;

pub(super) fn attr<'a>(n: &'a NodeDef, k: &str) -> Option<&'a Value> {
    n.attr.get(k).and_then(|a: &AttrValue| a.value.as_ref())
}
pub(super) fn attr_i(n: &NodeDef, k: &str, d: i64) -> i64 {
    match attr(n, k) {
        Some(Value::I(i)) => *i,
        _ => d,
    }
}
pub(super) fn attr_f(n: &NodeDef, k: &str, d: f32) -> f32 {
    match attr(n, k) {
        Some(Value::F(f)) => *f,
        _ => d,
    }
}
pub(super) fn attr_b(n: &NodeDef, k: &str, d: bool) -> bool {
    match attr(n, k) {
        Some(Value::B(b)) => *b,
        _ => d,
    }
}
pub(super) fn attr_s(n: &NodeDef, k: &str, d: &str) -> String {
    match attr(n, k) {
        Some(Value::S(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => d.to_string(),
    }
}
pub(super) fn attr_list_i(n: &NodeDef, k: &str) -> Option<Vec<i64>> {
    match attr(n, k) {
        Some(Value::List(l)) => Some(l.i.clone()),
        _ => None,
    }
}
pub(super) fn attr_type(n: &NodeDef, k: &str) -> Option<DataType> {
    match attr(n, k) {
        Some(Value::Type(t)) => DataType::from_i32(*t),
        _ => None,
    }
}

pub(super) fn act_none() -> ActivationFunctionType {
    ActivationFunctionType::NONE
}

pub(super) fn norm_axis(axis: i64, rank: usize) -> R<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(a as usize)
}

pub(super) fn out_name(node: &str, k: usize) -> String {
    if k == 0 {
        node.to_string()
    } else {
        format!("{node}:{k}")
    }
}

/// Output size of a conv/pool along one dim.
pub(super) fn conv_out(input: i64, k: i64, s: i64, d: i64, same: bool) -> R<i64> {
    if k < 1 || s < 1 || d < 1 {
        return err("kernel, stride and dilation must be positive");
    }
    let ek = (k - 1).checked_mul(d).and_then(|v| v.checked_add(1)).ok_or("kernel size overflows")?;
    if same {
        Ok(input.saturating_add(s - 1) / s)
    } else if input >= ek {
        Ok((input - ek) / s + 1)
    } else {
        err(format!("VALID window {ek} is larger than the input {input}"))
    }
}

pub(super) fn padding(n: &NodeDef) -> R<Padding> {
    match attr_s(n, "padding", "").as_str() {
        "SAME" => Ok(Padding::SAME),
        "VALID" => Ok(Padding::VALID),
        "EXPLICIT" => Ok(Padding::VALID),
        p => err(format!("padding {p:?} is not supported")),
    }
}

pub(super) fn nhwc(n: &NodeDef) -> R<()> {
    let f = attr_s(n, "data_format", "NHWC");
    if f != "NHWC" {
        return err(format!("data_format {f} is not supported (only NHWC)"));
    }
    Ok(())
}

/// [1, h, w, 1] list attrs (strides, dilations, ksize).
pub(super) fn hw_attr(n: &NodeDef, k: &str) -> R<[i64; 2]> {
    match attr_list_i(n, k) {
        None => Ok([1, 1]),
        Some(v) if v.len() == 4 => {
            if v[0] != 1 || v[3] != 1 {
                return err(format!("{k} {v:?} on batch or channels is not supported"));
            }
            Ok([v[1], v[2]])
        }
        Some(v) => err(format!("{k} must have 4 values, has {v:?}")),
    }
}
