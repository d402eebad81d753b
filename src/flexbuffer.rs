//! A reader for FlexBuffers, the schemaless format of custom ops' options (a map of named
//! ints, floats, strings and vectors). Every offset and size is checked against the buffer, so
//! a corrupt or hostile buffer gives an error, never a panic or an out-of-bounds read.
//!
//! Why not the `flexbuffers` crate: version 25.12.19 panics (slice index out of range in
//! `deref_offset`) on mutated buffers and, on some, does not return; we read untrusted files.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum FlexError {
    #[error("the buffer is too short ({0} bytes)")]
    TooShort(usize),
    #[error("bad byte width {0}")]
    BadWidth(u8),
    #[error("an offset or size points outside the buffer")]
    OutOfBounds,
    #[error("unknown value type {0}")]
    UnknownType(u8),
    #[error("expected {expected}, found {found}")]
    WrongType { expected: &'static str, found: &'static str },
    #[error("a key is not UTF-8 or not terminated")]
    BadKey,
    #[error("the map has no key {0:?}")]
    MissingKey(String),
}

pub type Result<T> = std::result::Result<T, FlexError>;

/// The value types this reader knows (the format's numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Null,
    Int,
    UInt,
    Float,
    Key,
    String,
    IndirectInt,
    IndirectUInt,
    IndirectFloat,
    Map,
    Vector,
    VectorInt,
    VectorUInt,
    VectorFloat,
    VectorKey,
    /// Fixed-length typed vectors: (element kind, length).
    Fixed(u8, usize),
    Blob,
    Bool,
    VectorBool,
}

impl Kind {
    fn from_raw(t: u8) -> Result<Kind> {
        Ok(match t {
            0 => Kind::Null,
            1 => Kind::Int,
            2 => Kind::UInt,
            3 => Kind::Float,
            4 => Kind::Key,
            5 => Kind::String,
            6 => Kind::IndirectInt,
            7 => Kind::IndirectUInt,
            8 => Kind::IndirectFloat,
            9 => Kind::Map,
            10 => Kind::Vector,
            11 => Kind::VectorInt,
            12 => Kind::VectorUInt,
            13 => Kind::VectorFloat,
            14 => Kind::VectorKey,
            // 15 is the deprecated string vector, read like an untyped one would not be.
            16..=24 => Kind::Fixed((t - 16) % 3 + 1, (t - 16) as usize / 3 + 2),
            25 => Kind::Blob,
            26 => Kind::Bool,
            36 => Kind::VectorBool,
            t => return Err(FlexError::UnknownType(t)),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Int | Kind::IndirectInt => "an int",
            Kind::UInt | Kind::IndirectUInt => "an unsigned int",
            Kind::Float | Kind::IndirectFloat => "a float",
            Kind::Key => "a key",
            Kind::String => "a string",
            Kind::Map => "a map",
            Kind::Vector | Kind::VectorInt | Kind::VectorUInt | Kind::VectorFloat | Kind::VectorKey => "a vector",
            Kind::Fixed(..) | Kind::VectorBool => "a vector",
            Kind::Blob => "a blob",
            Kind::Bool => "a bool",
        }
    }
}

fn width(code: u8) -> usize {
    1 << (code & 3)
}

/// One value in a buffer.
#[derive(Clone, Copy, Debug)]
pub struct Ref<'a> {
    buf: &'a [u8],
    /// Where the value (inline) or the offset to it is.
    at: usize,
    /// The width of the slot at `at`.
    parent_width: usize,
    /// The width of the pointed-to data's elements.
    width: usize,
    kind: Kind,
}

fn read_uint(buf: &[u8], at: usize, w: usize) -> Result<u64> {
    let b = buf.get(at..at.checked_add(w).ok_or(FlexError::OutOfBounds)?).ok_or(FlexError::OutOfBounds)?;
    Ok(match w {
        1 => b[0] as u64,
        2 => u16::from_le_bytes([b[0], b[1]]) as u64,
        4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
        _ => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    })
}

fn read_int(buf: &[u8], at: usize, w: usize) -> Result<i64> {
    let u = read_uint(buf, at, w)?;
    let shift = 64 - 8 * w as u32;
    Ok(((u << shift) as i64) >> shift)
}

fn read_float(buf: &[u8], at: usize, w: usize) -> Result<f64> {
    let u = read_uint(buf, at, w)?;
    match w {
        4 => Ok(f32::from_bits(u as u32) as f64),
        8 => Ok(f64::from_bits(u)),
        _ => Err(FlexError::BadWidth(w as u8)),
    }
}

/// The root value of a buffer.
pub fn root(buf: &[u8]) -> Result<Ref<'_>> {
    let n = buf.len();
    if n < 3 {
        return Err(FlexError::TooShort(n));
    }
    let root_width = buf[n - 1] as usize;
    if !matches!(root_width, 1 | 2 | 4 | 8) {
        return Err(FlexError::BadWidth(buf[n - 1]));
    }
    let packed = buf[n - 2];
    let at = (n - 2).checked_sub(root_width).ok_or(FlexError::TooShort(n))?;
    Ok(Ref { buf, at, parent_width: root_width, width: width(packed), kind: Kind::from_raw(packed >> 2)? })
}

/// The root of a buffer, which must be a map.
pub fn root_map(buf: &[u8]) -> Result<Map<'_>> {
    root(buf)?.as_map()
}

impl<'a> Ref<'a> {
    /// Where an offset-typed value's data starts.
    fn target(&self) -> Result<usize> {
        let off = read_uint(self.buf, self.at, self.parent_width)?;
        let off = usize::try_from(off).map_err(|_| FlexError::OutOfBounds)?;
        self.at.checked_sub(off).ok_or(FlexError::OutOfBounds)
    }

    fn wrong(&self, expected: &'static str) -> FlexError {
        FlexError::WrongType { expected, found: self.kind.name() }
    }

    pub fn is_null(&self) -> bool {
        self.kind == Kind::Null
    }

    pub fn as_i64(&self) -> Result<i64> {
        match self.kind {
            Kind::Int => read_int(self.buf, self.at, self.parent_width),
            Kind::UInt | Kind::Bool => {
                i64::try_from(read_uint(self.buf, self.at, self.parent_width)?).map_err(|_| self.wrong("an int"))
            }
            Kind::IndirectInt => read_int(self.buf, self.target()?, self.width),
            Kind::IndirectUInt => {
                i64::try_from(read_uint(self.buf, self.target()?, self.width)?).map_err(|_| self.wrong("an int"))
            }
            _ => Err(self.wrong("an int")),
        }
    }

    /// An int that fits in i32.
    pub fn as_i32(&self) -> Result<i32> {
        i32::try_from(self.as_i64()?).map_err(|_| self.wrong("a 32-bit int"))
    }

    /// A float (ints are converted, as the format's readers do).
    pub fn as_f64(&self) -> Result<f64> {
        match self.kind {
            Kind::Float => read_float(self.buf, self.at, self.parent_width),
            Kind::IndirectFloat => read_float(self.buf, self.target()?, self.width),
            Kind::Int | Kind::UInt | Kind::IndirectInt | Kind::IndirectUInt => Ok(self.as_i64()? as f64),
            _ => Err(self.wrong("a float")),
        }
    }

    pub fn as_f32(&self) -> Result<f32> {
        Ok(self.as_f64()? as f32)
    }

    pub fn as_bool(&self) -> Result<bool> {
        match self.kind {
            Kind::Bool | Kind::Int | Kind::UInt => Ok(read_uint(self.buf, self.at, self.parent_width)? != 0),
            _ => Err(self.wrong("a bool")),
        }
    }

    pub fn as_str(&self) -> Result<&'a str> {
        match self.kind {
            Kind::String => {
                let t = self.target()?;
                let len = read_uint(self.buf, t.checked_sub(self.width).ok_or(FlexError::OutOfBounds)?, self.width)?;
                let len = usize::try_from(len).map_err(|_| FlexError::OutOfBounds)?;
                let end = t.checked_add(len).ok_or(FlexError::OutOfBounds)?;
                let bytes = self.buf.get(t..end).ok_or(FlexError::OutOfBounds)?;
                std::str::from_utf8(bytes).map_err(|_| FlexError::BadKey)
            }
            Kind::Key => key_at(self.buf, self.target()?),
            _ => Err(self.wrong("a string")),
        }
    }

    pub fn as_vector(&self) -> Result<Vector<'a>> {
        let (elem, fixed) = match self.kind {
            Kind::Vector => (None, None),
            Kind::VectorInt => (Some(Kind::Int), None),
            Kind::VectorUInt => (Some(Kind::UInt), None),
            Kind::VectorFloat => (Some(Kind::Float), None),
            Kind::VectorKey => (Some(Kind::Key), None),
            Kind::VectorBool => (Some(Kind::Bool), None),
            Kind::Fixed(e, n) => (Some(Kind::from_raw(e)?), Some(n)),
            _ => return Err(self.wrong("a vector")),
        };
        Vector::at(self.buf, self.target()?, self.width, elem, fixed)
    }

    pub fn as_map(&self) -> Result<Map<'a>> {
        if self.kind != Kind::Map {
            return Err(self.wrong("a map"));
        }
        let t = self.target()?;
        let values = Vector::at(self.buf, t, self.width, None, None)?;
        let w = self.width;
        let keys_slot = t.checked_sub(3 * w).ok_or(FlexError::OutOfBounds)?;
        let keys_width = read_uint(self.buf, keys_slot + w, w)?;
        let keys_width = usize::try_from(keys_width).map_err(|_| FlexError::BadWidth(0))?;
        if !matches!(keys_width, 1 | 2 | 4 | 8) {
            return Err(FlexError::BadWidth(keys_width as u8));
        }
        let keys_ref = Ref { buf: self.buf, at: keys_slot, parent_width: w, width: keys_width, kind: Kind::VectorKey };
        let keys = Vector::at(self.buf, keys_ref.target()?, keys_width, Some(Kind::Key), None)?;
        if keys.len != values.len {
            return Err(FlexError::OutOfBounds);
        }
        Ok(Map { keys, values })
    }
}

/// Keys longer than this are refused, so that reading every key of a hostile map stays linear.
const MAX_KEY: usize = 1024;

/// The null-terminated UTF-8 string at `at`.
fn key_at(buf: &[u8], at: usize) -> Result<&str> {
    let rest = buf.get(at..).ok_or(FlexError::OutOfBounds)?;
    let rest = &rest[..rest.len().min(MAX_KEY + 1)];
    let end = rest.iter().position(|&b| b == 0).ok_or(FlexError::BadKey)?;
    std::str::from_utf8(&rest[..end]).map_err(|_| FlexError::BadKey)
}

/// Whether the key at `at` is `key` (reads at most its length plus one byte).
fn key_is(buf: &[u8], at: usize, key: &str) -> bool {
    let n = key.len();
    buf.get(at..).and_then(|r| r.get(..=n)).is_some_and(|r| &r[..n] == key.as_bytes() && r[n] == 0)
}

/// A vector: untyped (each element has a type byte after the elements) or typed.
#[derive(Clone, Copy, Debug)]
pub struct Vector<'a> {
    buf: &'a [u8],
    start: usize,
    width: usize,
    len: usize,
    elem: Option<Kind>,
}

impl<'a> Vector<'a> {
    fn at(buf: &'a [u8], start: usize, width: usize, elem: Option<Kind>, fixed: Option<usize>) -> Result<Vector<'a>> {
        let len = match fixed {
            Some(n) => n,
            None => {
                let n = read_uint(buf, start.checked_sub(width).ok_or(FlexError::OutOfBounds)?, width)?;
                usize::try_from(n).map_err(|_| FlexError::OutOfBounds)?
            }
        };
        // The elements (and for untyped vectors one type byte each) must lie in the buffer.
        let type_bytes = if elem.is_none() { len } else { 0 };
        let end = len
            .checked_mul(width)
            .and_then(|b| b.checked_add(type_bytes))
            .and_then(|b| b.checked_add(start))
            .ok_or(FlexError::OutOfBounds)?;
        if end > buf.len() {
            return Err(FlexError::OutOfBounds);
        }
        Ok(Vector { buf, start, width, len, elem })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `i` (None past the end).
    pub fn get(&self, i: usize) -> Option<Result<Ref<'a>>> {
        (i < self.len).then(|| {
            let at = self.start + i * self.width;
            let (kind, width) = match self.elem {
                Some(k) => (k, self.width),
                None => {
                    let packed = self.buf[self.start + self.len * self.width + i];
                    (Kind::from_raw(packed >> 2)?, width(packed))
                }
            };
            Ok(Ref { buf: self.buf, at, parent_width: self.width, width, kind })
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = Result<Ref<'a>>> + '_ {
        (0..self.len).map(|i| self.get(i).expect("index below len"))
    }

    /// Every element as an i64.
    pub fn to_i64s(&self) -> Result<Vec<i64>> {
        self.iter().map(|r| r?.as_i64()).collect()
    }
}

/// A map from keys to values.
#[derive(Clone, Copy, Debug)]
pub struct Map<'a> {
    keys: Vector<'a>,
    values: Vector<'a>,
}

impl<'a> Map<'a> {
    pub fn len(&self) -> usize {
        self.values.len
    }

    pub fn is_empty(&self) -> bool {
        self.values.len == 0
    }

    /// Key `i`.
    pub fn key(&self, i: usize) -> Result<&'a str> {
        let k = self.keys.get(i).ok_or(FlexError::OutOfBounds)??;
        key_at(self.buf(), k.target()?)
    }

    fn buf(&self) -> &'a [u8] {
        self.values.buf
    }

    /// The value under `key` (None when the map has no such key). Linear: the maps are small,
    /// and a corrupt buffer may not be sorted.
    pub fn get(&self, key: &str) -> Result<Option<Ref<'a>>> {
        for i in 0..self.len() {
            let k = self.keys.get(i).ok_or(FlexError::OutOfBounds)??;
            if key_is(self.buf(), k.target()?, key) {
                return self.values.get(i).transpose();
            }
        }
        Ok(None)
    }

    /// The value under `key`, which must be there.
    pub fn require(&self, key: &str) -> Result<Ref<'a>> {
        self.get(key)?.ok_or_else(|| FlexError::MissingKey(key.to_string()))
    }

    /// Every key, in order.
    pub fn keys(&self) -> Result<Vec<&'a str>> {
        (0..self.len()).map(|i| self.key(i)).collect()
    }
}

#[cfg(test)]
mod tests;
