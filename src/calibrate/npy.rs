//! A small, exact reader for NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
//!
//! Only little-endian (or byte-sized) plain dtypes are read: `<f4 <f8 <i2 <i4 <i8 <u2 |u1 |i1 |b1`.
//! Everything else (big-endian, structured, object, string, complex, half) is reported as an
//! unsupported dtype by name. All sizes are computed with checked arithmetic, the data length must
//! match the header exactly, and no input makes the reader panic.

use std::fmt;

/// The leading bytes of every `.npy` file.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Deepest nesting accepted in the header's Python literal (guards recursion on garbage).
const MAX_DEPTH: usize = 16;

/// Why a `.npy` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NpyError {
    #[error("not a .npy file (no \\x93NUMPY magic)")]
    NotNpy,
    #[error("file ends inside the .npy header")]
    Truncated,
    #[error("unsupported .npy format version {0}.{1}")]
    UnsupportedVersion(u8, u8),
    #[error("malformed .npy header: {0}")]
    BadHeader(String),
    #[error("unsupported .npy dtype {0}")]
    UnsupportedDtype(String),
    #[error("fortran-order (column-major) .npy arrays are not supported; save with np.ascontiguousarray")]
    FortranOrder,
    #[error("array size overflows: shape {0:?}")]
    SizeOverflow(Vec<usize>),
    #[error("data length mismatch: header says {expected} bytes, file has {found}")]
    DataLength { expected: usize, found: usize },
}

/// An element type this reader supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    I16,
    I32,
    I64,
    U8,
    U16,
    I8,
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 | DType::Bool => 1,
            DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }

    /// The NumPy name (`float32`, `uint8`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::I8 => "int8",
            DType::Bool => "bool",
        }
    }

    /// Parses a `descr` string such as `<f4` or `|u1`.
    pub fn from_descr(descr: &str) -> Result<DType, NpyError> {
        let unsupported = || NpyError::UnsupportedDtype(format!("'{descr}'"));
        let mut chars = descr.chars();
        let order = chars.next().ok_or_else(unsupported)?;
        let kind = chars.as_str();
        let dtype = match kind {
            "f4" => DType::F32,
            "f8" => DType::F64,
            "i2" => DType::I16,
            "i4" => DType::I32,
            "i8" => DType::I64,
            "u2" => DType::U16,
            "u1" => DType::U8,
            "i1" => DType::I8,
            "b1" => DType::Bool,
            _ => return Err(unsupported()),
        };
        let ok = match order {
            '<' => true,
            // Byte order is meaningless for one-byte types.
            '|' | '=' | '>' => dtype.size() == 1,
            _ => false,
        };
        if !ok {
            return Err(if order == '>' {
                NpyError::UnsupportedDtype(format!("'{descr}' (big-endian; convert with arr.astype('<{kind}'))"))
            } else {
                unsupported()
            });
        }
        Ok(dtype)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The elements of an array, in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    I8(Vec<i8>),
    Bool(Vec<bool>),
}

impl NpyData {
    pub fn dtype(&self) -> DType {
        match self {
            NpyData::F32(_) => DType::F32,
            NpyData::F64(_) => DType::F64,
            NpyData::I16(_) => DType::I16,
            NpyData::I32(_) => DType::I32,
            NpyData::I64(_) => DType::I64,
            NpyData::U8(_) => DType::U8,
            NpyData::U16(_) => DType::U16,
            NpyData::I8(_) => DType::I8,
            NpyData::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
            NpyData::I16(v) => v.len(),
            NpyData::I32(v) => v.len(),
            NpyData::I64(v) => v.len(),
            NpyData::U8(v) => v.len(),
            NpyData::U16(v) => v.len(),
            NpyData::I8(v) => v.len(),
            NpyData::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Offset of the first data byte.
    pub data_offset: usize,
}

/// A decoded array.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

/// Parses the preamble and header of a `.npy` file.
pub fn parse_header(bytes: &[u8]) -> Result<Header, NpyError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(NpyError::NotNpy);
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(v) => (v[0], v[1]),
        None => return Err(NpyError::Truncated),
    };
    let (len_bytes, text_start) = match major {
        1 => (2, 10usize),
        2 | 3 => (4, 12),
        _ => return Err(NpyError::UnsupportedVersion(major, minor)),
    };
    let len_field = bytes.get(8..8 + len_bytes).ok_or(NpyError::Truncated)?;
    let header_len = if len_bytes == 2 {
        u16::from_le_bytes([len_field[0], len_field[1]]) as usize
    } else {
        let n = u32::from_le_bytes([len_field[0], len_field[1], len_field[2], len_field[3]]);
        usize::try_from(n).map_err(|_| NpyError::Truncated)?
    };
    let data_offset = text_start.checked_add(header_len).ok_or(NpyError::Truncated)?;
    let text = bytes.get(text_start..data_offset).ok_or(NpyError::Truncated)?;
    // v1/v2 headers are latin-1 but in practice ASCII; v3 is UTF-8. Accept UTF-8 for all.
    let text = std::str::from_utf8(text).map_err(|_| NpyError::BadHeader("header is not ASCII/UTF-8 text".into()))?;
    let dict = match Parser::new(text).parse_all()? {
        Lit::Dict(d) => d,
        _ => return Err(NpyError::BadHeader("header is not a dict".into())),
    };
    let get = |key: &str| dict.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
    let descr = match get("descr") {
        Some(Lit::Str(s)) => s.as_str(),
        Some(other) => return Err(NpyError::UnsupportedDtype(format!("{} (structured dtype)", other.describe()))),
        None => return Err(NpyError::BadHeader("missing 'descr'".into())),
    };
    let fortran = match get("fortran_order") {
        Some(Lit::Bool(b)) => *b,
        Some(_) => return Err(NpyError::BadHeader("'fortran_order' is not True/False".into())),
        None => return Err(NpyError::BadHeader("missing 'fortran_order'".into())),
    };
    let shape = match get("shape") {
        Some(Lit::Seq(items)) => items
            .iter()
            .map(|item| match item {
                Lit::Int(n) => Ok(*n),
                _ => Err(NpyError::BadHeader("'shape' holds a non-integer".into())),
            })
            .collect::<Result<Vec<usize>, _>>()?,
        Some(_) => return Err(NpyError::BadHeader("'shape' is not a tuple".into())),
        None => return Err(NpyError::BadHeader("missing 'shape'".into())),
    };
    let dtype = DType::from_descr(descr)?;
    if fortran {
        return Err(NpyError::FortranOrder);
    }
    Ok(Header { dtype, shape, data_offset })
}

/// Number of elements for `shape`, or `None` on overflow.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// An array whose elements stay in the caller's bytes (little-endian, C order): decoding
/// happens per range, so a large file is copied once, straight into the values that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyView<'a> {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Exactly `element_count(shape) * dtype.size()` bytes.
    pub body: &'a [u8],
}

/// Checks a whole `.npy` file held in memory and returns a view of its elements.
pub fn view(bytes: &[u8]) -> Result<NpyView<'_>, NpyError> {
    let header = parse_header(bytes)?;
    let count = element_count(&header.shape).ok_or_else(|| NpyError::SizeOverflow(header.shape.clone()))?;
    let expected =
        count.checked_mul(header.dtype.size()).ok_or_else(|| NpyError::SizeOverflow(header.shape.clone()))?;
    let body = &bytes[header.data_offset..];
    if body.len() != expected {
        return Err(NpyError::DataLength { expected, found: body.len() });
    }
    Ok(NpyView { dtype: header.dtype, shape: header.shape, body })
}

/// Parses a whole `.npy` file held in memory.
pub fn parse(bytes: &[u8]) -> Result<NpyArray, NpyError> {
    let v = view(bytes)?;
    let data = v.decode(0, v.body.len() / v.dtype.size());
    Ok(NpyArray { shape: v.shape, data })
}

impl NpyView<'_> {
    /// Elements `start..start + count`. Panics if the range is outside the array; callers
    /// derive it from the checked shape.
    pub fn decode(&self, start: usize, count: usize) -> NpyData {
        let size = self.dtype.size();
        decode(self.dtype, &self.body[start * size..(start + count) * size])
    }
}

/// Little-endian elements of `dtype` (whole elements; a trailing partial one is ignored).
pub fn decode(dtype: DType, body: &[u8]) -> NpyData {
    // Generic over the conversion (not a fn pointer) so that it inlines and the loop becomes a copy.
    fn le<const N: usize, T>(body: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        body.chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    match dtype {
        DType::F32 => NpyData::F32(le(body, f32::from_le_bytes)),
        DType::F64 => NpyData::F64(le(body, f64::from_le_bytes)),
        DType::I16 => NpyData::I16(le(body, i16::from_le_bytes)),
        DType::I32 => NpyData::I32(le(body, i32::from_le_bytes)),
        DType::I64 => NpyData::I64(le(body, i64::from_le_bytes)),
        DType::U16 => NpyData::U16(le(body, u16::from_le_bytes)),
        DType::U8 => NpyData::U8(body.to_vec()),
        DType::I8 => NpyData::I8(body.iter().map(|&b| b as i8).collect()),
        DType::Bool => NpyData::Bool(body.iter().map(|&b| b != 0).collect()),
    }
}

/// A Python literal as found in `.npy` headers.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Int(usize),
    Bool(bool),
    None,
    Seq(Vec<Lit>),
    Dict(Vec<(String, Lit)>),
}

impl Lit {
    fn describe(&self) -> String {
        match self {
            Lit::Str(s) => format!("'{s}'"),
            Lit::Int(n) => n.to_string(),
            Lit::Bool(b) => if *b { "True" } else { "False" }.into(),
            Lit::None => "None".into(),
            Lit::Seq(items) => format!("[{}]", items.iter().map(Lit::describe).collect::<Vec<_>>().join(", ")),
            Lit::Dict(_) => "{...}".into(),
        }
    }
}

/// Recursive-descent parser for the Python literal subset numpy writes.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { s: text.as_bytes(), pos: 0 }
    }

    fn err<T>(&self, what: &str) -> Result<T, NpyError> {
        Err(NpyError::BadHeader(format!("{what} at byte {}", self.pos)))
    }

    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn parse_all(mut self) -> Result<Lit, NpyError> {
        let lit = self.value(0)?;
        if self.peek().is_some() {
            return self.err("trailing characters");
        }
        Ok(lit)
    }

    fn value(&mut self, depth: usize) -> Result<Lit, NpyError> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        match self.peek() {
            None => self.err("unexpected end"),
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        break;
                    }
                    let key = match self.value(depth + 1)? {
                        Lit::Str(k) => k,
                        _ => return self.err("dict key is not a string"),
                    };
                    if self.peek() != Some(b':') {
                        return self.err("expected ':'");
                    }
                    self.pos += 1;
                    let val = self.value(depth + 1)?;
                    entries.push((key, val));
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {}
                        _ => return self.err("expected ',' or '}'"),
                    }
                }
                Ok(Lit::Dict(entries))
            }
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(c) if c == close => {}
                        _ => return self.err("expected ',' or closing bracket"),
                    }
                }
                Ok(Lit::Seq(items))
            }
            Some(q @ (b'\'' | b'"')) => {
                self.pos += 1;
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos] != q {
                    if self.s[self.pos] == b'\\' {
                        return self.err("escape sequences are not supported");
                    }
                    self.pos += 1;
                }
                if self.pos >= self.s.len() {
                    return self.err("unterminated string");
                }
                // The slice lies between ASCII quote bytes of valid UTF-8, so it is valid UTF-8.
                let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                self.pos += 1;
                Ok(Lit::Str(text))
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                let n: usize = match digits.parse() {
                    Ok(n) => n,
                    Err(_) => return self.err("integer too large"),
                };
                // Python 2 long suffix, as written by old numpy.
                if matches!(self.s.get(self.pos), Some(b'L' | b'l')) {
                    self.pos += 1;
                }
                Ok(Lit::Int(n))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_alphanumeric() {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Lit::Bool(true)),
                    b"False" => Ok(Lit::Bool(false)),
                    b"None" => Ok(Lit::None),
                    _ => {
                        self.pos = start;
                        self.err("unknown identifier")
                    }
                }
            }
            Some(b'-') => self.err("negative number"),
            Some(_) => self.err("unexpected character"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(version: u8, header: &str, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    fn f32_body(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn reads_v1_v2_v3() {
        let body = f32_body(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        for version in 1..=3 {
            let bytes = npy(version, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }    \n", &body);
            let arr = parse(&bytes).unwrap();
            assert_eq!(arr.shape, vec![2, 3]);
            assert_eq!(arr.data, NpyData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        }
    }

    #[test]
    fn reads_every_dtype() {
        let h = |d: &str, shape: &str| format!("{{'descr': '{d}', 'fortran_order': False, 'shape': {shape}}}\n");
        let a = parse(&npy(1, &h("<f8", "(2,)"), &[1.5f64.to_le_bytes(), (-2.0f64).to_le_bytes()].concat())).unwrap();
        assert_eq!(a.data, NpyData::F64(vec![1.5, -2.0]));
        let a = parse(&npy(1, &h("<i4", "(1,)"), &(-7i32).to_le_bytes())).unwrap();
        assert_eq!(a.data, NpyData::I32(vec![-7]));
        let a = parse(&npy(1, &h("<i8", "(1,)"), &(1i64 << 40).to_le_bytes())).unwrap();
        assert_eq!(a.data, NpyData::I64(vec![1 << 40]));
        let a = parse(&npy(1, &h("<i2", "(1,)"), &(-300i16).to_le_bytes())).unwrap();
        assert_eq!(a.data, NpyData::I16(vec![-300]));
        let a = parse(&npy(1, &h("<u2", "(1,)"), &60000u16.to_le_bytes())).unwrap();
        assert_eq!(a.data, NpyData::U16(vec![60000]));
        let a = parse(&npy(1, &h("|u1", "(2,)"), &[0, 255])).unwrap();
        assert_eq!(a.data, NpyData::U8(vec![0, 255]));
        let a = parse(&npy(1, &h("|i1", "(2,)"), &[0xff, 1])).unwrap();
        assert_eq!(a.data, NpyData::I8(vec![-1, 1]));
        let a = parse(&npy(1, &h("|b1", "(3,)"), &[0, 1, 2])).unwrap();
        assert_eq!(a.data, NpyData::Bool(vec![false, true, true]));
        // Scalars and empty arrays.
        let a = parse(&npy(1, &h("<f4", "()"), &f32_body(&[9.0]))).unwrap();
        assert_eq!((a.shape, a.data), (vec![], NpyData::F32(vec![9.0])));
        let a = parse(&npy(1, &h("<f4", "(0, 3)"), &[])).unwrap();
        assert_eq!((a.shape, a.data), (vec![0, 3], NpyData::F32(vec![])));
    }

    #[test]
    fn accepts_header_variants() {
        // Double quotes, key order, a list shape, the python-2 long suffix, no trailing comma.
        let body = f32_body(&[1.0, 2.0]);
        let bytes = npy(1, "{\"shape\": [2L], \"fortran_order\": False, \"descr\": \"<f4\"}", &body);
        assert_eq!(parse(&bytes).unwrap().shape, vec![2]);
    }

    #[test]
    fn rejects_unsupported_dtypes() {
        let h = |d: &str| npy(1, &format!("{{'descr': '{d}', 'fortran_order': False, 'shape': (1,), }}"), &[0; 8]);
        for d in [">f4", ">i8", "<f2", "<c8", "|O", "<U3", "|S4", "<M8[ns]", "", "|f4", "<u4"] {
            match parse(&h(d)) {
                Err(NpyError::UnsupportedDtype(msg)) => assert!(msg.contains(d), "{msg}"),
                other => panic!("{d}: {other:?}"),
            }
        }
        let err = parse(&h(">f4")).unwrap_err().to_string();
        assert!(err.contains("big-endian"), "{err}");
        let structured = npy(1, "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,)}", &[]);
        let err = parse(&structured).unwrap_err();
        assert!(matches!(&err, NpyError::UnsupportedDtype(m) if m.contains("structured")), "{err:?}");
        // Byte order does not matter for single bytes.
        assert!(parse(&npy(1, "{'descr': '>u1', 'fortran_order': False, 'shape': (1,)}", &[5])).is_ok());
    }

    #[test]
    fn rejects_fortran_order() {
        let bytes = npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", &f32_body(&[0.0; 4]));
        assert_eq!(parse(&bytes), Err(NpyError::FortranOrder));
    }

    #[test]
    fn rejects_malformed_headers() {
        let body = f32_body(&[0.0; 2]);
        let cases = [
            "",
            "{",
            "{'descr': '<f4'",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'shape': (2,)}",
            "{'fortran_order': False, 'shape': (2,)}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': ('2',)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': 2}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999999,)}",
            "{'descr: '<f4', 'fortran_order': False, 'shape': (2,)}",
            "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
            "{'descr': '<\\f4', 'fortran_order': False, 'shape': (2,)}",
            "{1: '<f4'}",
            "['descr']",
            "{'descr': '<f4', 'fortran_order': Fals, 'shape': (2,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,),,}",
        ];
        for case in cases {
            match parse(&npy(1, case, &body)) {
                Err(NpyError::BadHeader(_)) => {}
                other => panic!("{case:?}: {other:?}"),
            }
        }
        let deep = format!("{}{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(parse(&npy(1, &deep, &[])), Err(NpyError::BadHeader(_))));
        let bad_utf8 = [MAGIC.as_slice(), &[1, 0, 2, 0, 0xff, 0xfe]].concat();
        assert!(matches!(parse(&bad_utf8), Err(NpyError::BadHeader(_))));
    }

    #[test]
    fn rejects_bad_preamble_and_lengths() {
        assert_eq!(parse(b""), Err(NpyError::NotNpy));
        assert_eq!(parse(b"PK\x03\x04 not npy"), Err(NpyError::NotNpy));
        assert_eq!(parse(b"\x93NUMPY"), Err(NpyError::Truncated));
        assert_eq!(parse(b"\x93NUMPY\x01\x00\x10"), Err(NpyError::Truncated));
        assert_eq!(parse(b"\x93NUMPY\x01\x00\xff\x00{}"), Err(NpyError::Truncated));
        assert_eq!(parse(b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}"), Err(NpyError::Truncated));
        assert_eq!(parse(b"\x93NUMPY\x04\x00\x02\x00{}"), Err(NpyError::UnsupportedVersion(4, 0)));
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}";
        assert_eq!(parse(&npy(1, header, &[0; 8])), Err(NpyError::DataLength { expected: 12, found: 8 }));
        assert_eq!(parse(&npy(1, header, &[0; 13])), Err(NpyError::DataLength { expected: 12, found: 13 }));
        let huge = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}", usize::MAX / 2, 3);
        assert!(matches!(parse(&npy(1, &huge, &[])), Err(NpyError::SizeOverflow(_))));
        let huge = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}", usize::MAX / 4);
        assert!(matches!(parse(&npy(1, &huge, &[])), Err(NpyError::SizeOverflow(_))));
    }

    #[test]
    fn never_panics_on_truncations_and_byte_flips() {
        let base = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }    \n", &f32_body(&[1.0; 6]));
        for cut in 0..base.len() {
            let _ = parse(&base[..cut]);
        }
        for i in 0..base.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = base.clone();
                b[i] ^= flip;
                let _ = parse(&b);
            }
        }
    }
}
