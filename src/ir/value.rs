//! Tensor values: a shape and typed, row-major elements, in buffers whose large blocks start
//! on a cache line.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// A cache line: large buffers start on one.
pub const LINE: usize = 64;
/// Buffers of at least this many bytes are line-aligned; smaller ones are left as they come.
pub const ALIGN_MIN_BYTES: usize = 4096;

/// The elements of one tensor. Blocks of [`ALIGN_MIN_BYTES`] or more that it allocates start
/// on a [`LINE`]: glibc aligns to 16 bytes, so half of the kernels' 32-byte loads along a
/// tensor would straddle two lines (aligned, a MobileNetV2 depthwise layer runs about 15%
/// faster). The alignment comes from skipping the first few elements of a slightly larger
/// `Vec`, so the buffer needs no allocator of its own; it is only a speed matter, and a
/// buffer made from a `Vec` ([`From<Vec<T>>`]) keeps the `Vec`'s address.
pub struct Buf<T> {
    vec: Vec<T>,
    /// Elements of `vec` before the first one of the buffer (padding for alignment).
    start: usize,
}

impl<T: Copy + Default> Buf<T> {
    pub fn new() -> Buf<T> {
        Buf { vec: Vec::new(), start: 0 }
    }

    /// An empty buffer with room for `n` elements, line-aligned when that is large.
    pub fn with_capacity(n: usize) -> Buf<T> {
        let size = std::mem::size_of::<T>().max(1);
        if size > LINE || LINE % size != 0 || n.saturating_mul(size) < ALIGN_MIN_BYTES {
            return Buf { vec: Vec::with_capacity(n), start: 0 };
        }
        let mut vec = Vec::with_capacity(n + LINE / size);
        let start = (LINE - vec.as_ptr() as usize % LINE) % LINE / size;
        vec.resize(start, T::default());
        Buf { vec, start }
    }

    /// `n` copies of `value`.
    pub fn filled(value: T, n: usize) -> Buf<T> {
        let mut b = Buf::with_capacity(n);
        b.vec.resize(b.start + n, value);
        b
    }

    pub fn from_slice(s: &[T]) -> Buf<T> {
        let mut b = Buf::with_capacity(s.len());
        b.vec.extend_from_slice(s);
        b
    }

    /// `n` elements written by `fill`, which must write every one of the slots it is given
    /// (and may fail, leaving nothing behind). Skips the zero fill that `filled` costs.
    pub fn written<E>(
        n: usize,
        fill: impl FnOnce(&mut [std::mem::MaybeUninit<T>]) -> Result<(), E>,
    ) -> Result<Buf<T>, E> {
        let mut b = Buf::with_capacity(n);
        fill(&mut b.vec.spare_capacity_mut()[..n])?;
        // SAFETY: `fill` initialized the `n` slots after the `start` initialized padding
        // elements, and the capacity holds them (with_capacity reserved n past the padding).
        unsafe { b.vec.set_len(b.start + n) };
        Ok(b)
    }

    pub fn push(&mut self, v: T) {
        self.vec.push(v);
    }

    pub fn extend_from_slice(&mut self, s: &[T]) {
        self.vec.extend_from_slice(s);
    }

    /// Grows or shrinks to `n` elements, new ones set to `value`.
    pub fn resize(&mut self, n: usize, value: T) {
        self.vec.resize(self.start + n, value);
    }

    /// The elements as a plain vector (a copy when the buffer is padded).
    pub fn into_vec(mut self) -> Vec<T> {
        if self.start > 0 {
            self.vec.drain(..self.start);
        }
        self.vec
    }
}

impl<T: Copy + Default> Default for Buf<T> {
    fn default() -> Buf<T> {
        Buf::new()
    }
}

impl<T> Deref for Buf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.vec[self.start..]
    }
}

impl<T> DerefMut for Buf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.vec[self.start..]
    }
}

impl<T: Copy + Default> Clone for Buf<T> {
    fn clone(&self) -> Buf<T> {
        Buf::from_slice(self)
    }
}

impl<T: PartialEq> PartialEq for Buf<T> {
    fn eq(&self, other: &Buf<T>) -> bool {
        **self == **other
    }
}

impl<T: fmt::Debug> fmt::Debug for Buf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Takes the vector as it is, without a copy (and without alignment).
impl<T> From<Vec<T>> for Buf<T> {
    fn from(vec: Vec<T>) -> Buf<T> {
        Buf { vec, start: 0 }
    }
}

impl<T: Copy + Default> FromIterator<T> for Buf<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Buf<T> {
        let iter = iter.into_iter();
        let mut b = Buf::with_capacity(iter.size_hint().0);
        b.vec.extend(iter);
        b
    }
}

impl<T: Copy + Default> IntoIterator for Buf<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Buf<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Copy + Default> Extend<T> for Buf<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.vec.extend(iter);
    }
}

/// Elements of a tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F32(Buf<f32>),
    I32(Buf<i32>),
    I64(Buf<i64>),
    U8(Buf<u8>),
    I8(Buf<i8>),
    /// INT16: the activations of 16x8 quantized models.
    I16(Buf<i16>),
    Bool(Buf<bool>),
    /// COMPLEX64: (real, imaginary) pairs.
    C64(Buf<[f32; 2]>),
}

/// A tensor value: its shape and elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub shape: Vec<usize>,
    pub values: Values,
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::U8(v) => v.len(),
            Values::I8(v) => v.len(),
            Values::I16(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::C64(v) => v.len(),
        }
    }

    /// The elements' size in memory.
    pub fn byte_len(&self) -> u64 {
        let size = match self {
            Values::F32(_) | Values::I32(_) => 4,
            Values::I64(_) | Values::C64(_) => 8,
            Values::I16(_) => 2,
            Values::U8(_) | Values::I8(_) | Values::Bool(_) => 1,
        };
        self.len() as u64 * size
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The variant's name: F32, I32, I64, U8, I8, I16, Bool or C64.
    pub fn type_name(&self) -> &'static str {
        match self {
            Values::F32(_) => "F32",
            Values::I32(_) => "I32",
            Values::I64(_) => "I64",
            Values::U8(_) => "U8",
            Values::I8(_) => "I8",
            Values::I16(_) => "I16",
            Values::Bool(_) => "Bool",
            Values::C64(_) => "C64",
        }
    }
}

impl Values {
    /// The name of the variant that holds values of tensor type `t`: wider variants hold the
    /// types the interpreter has none for (UINT16 in I32, UINT32 in I64, FLOAT16 and
    /// FLOAT64 in F32), and a RESOURCE handle is its id, in I32. None for types it cannot hold.
    pub fn variant_for(t: crate::schema::TensorType) -> Option<&'static str> {
        use crate::schema::TensorType as T;
        Some(match t {
            T::FLOAT32 | T::FLOAT16 | T::FLOAT64 | T::BFLOAT16 => "F32",
            T::INT32 | T::UINT16 | T::RESOURCE => "I32",
            T::INT16 => "I16",
            T::INT64 | T::UINT32 => "I64",
            T::UINT8 => "U8",
            T::INT8 => "I8",
            T::BOOL => "Bool",
            T::COMPLEX64 => "C64",
            _ => return None,
        })
    }
}

impl Value {
    pub fn new(shape: Vec<usize>, values: Values) -> Value {
        Value { shape, values }
    }

    pub fn f32(shape: Vec<usize>, v: impl Into<Buf<f32>>) -> Value {
        Value { shape, values: Values::F32(v.into()) }
    }

    /// The f32 elements, or None for another type.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.values {
            Values::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Number of elements the shape implies.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Element types a value can hold, for kernels generic over them.
pub trait Elem: Copy + PartialOrd + Default + Send + Sync + 'static {
    fn slice(v: &Values) -> Option<&[Self]>;
    fn wrap(v: Buf<Self>) -> Values;
}

macro_rules! elem {
    ($t:ty, $var:ident) => {
        impl Elem for $t {
            fn slice(v: &Values) -> Option<&[Self]> {
                match v {
                    Values::$var(x) => Some(x),
                    _ => None,
                }
            }
            fn wrap(v: Buf<Self>) -> Values {
                Values::$var(v)
            }
        }
    };
}
elem!(f32, F32);
elem!(i32, I32);
elem!(i64, I64);
elem!(u8, U8);
elem!(i8, I8);
elem!(i16, I16);
elem!(bool, Bool);
elem!([f32; 2], C64);

/// Applies a generic expression to the elements of any variant, giving elements of the same
/// type: `map_values!(values, v => expr)`, where `v: &Buf<T>` and `expr` converts into `Buf<T>`.
#[doc(hidden)]
#[macro_export]
macro_rules! map_values {
    ($vals:expr, $v:ident => $body:expr) => {
        match $vals {
            $crate::ir::Values::F32($v) => $crate::ir::Values::F32($body.into()),
            $crate::ir::Values::I32($v) => $crate::ir::Values::I32($body.into()),
            $crate::ir::Values::I64($v) => $crate::ir::Values::I64($body.into()),
            $crate::ir::Values::U8($v) => $crate::ir::Values::U8($body.into()),
            $crate::ir::Values::I8($v) => $crate::ir::Values::I8($body.into()),
            $crate::ir::Values::I16($v) => $crate::ir::Values::I16($body.into()),
            $crate::ir::Values::Bool($v) => $crate::ir::Values::Bool($body.into()),
            $crate::ir::Values::C64($v) => $crate::ir::Values::C64($body.into()),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_start_on_a_line_and_keep_their_elements() {
        for n in [0usize, 1, 100, 1023, 1024, 5000, 1 << 16] {
            let b: Buf<f32> = (0..n).map(|i| i as f32).collect();
            assert_eq!(b.len(), n);
            assert!(b.iter().enumerate().all(|(i, &v)| v == i as f32));
            if n * 4 >= ALIGN_MIN_BYTES {
                assert_eq!(b.as_ptr() as usize % LINE, 0, "{n}");
                assert_eq!(b.clone().as_ptr() as usize % LINE, 0, "clone of {n}");
            }
            assert_eq!(b.clone(), b);
            assert_eq!(b.clone().into_vec(), (0..n).map(|i| i as f32).collect::<Vec<_>>());
        }
        let w = Buf::<i64>::written::<()>(2000, |s| {
            s.iter_mut().enumerate().for_each(|(i, x)| {
                x.write(i as i64);
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(w.as_ptr() as usize % LINE, 0);
        assert_eq!(w[1999], 1999);
        let mut g = Buf::filled(7u8, 5000);
        g.push(9);
        g.resize(5002, 1);
        assert_eq!((g.len(), g[4999], g[5000], g[5001]), (5002, 7, 9, 1));
    }
}
