//! A small FlatBuffers schema compiler for the subset the TFLite schema uses:
//! tables, enums, unions, scalar/string/table vectors, defaults, `deprecated`
//! and `force_align`. It emits, for each table, a zero-copy view with
//! verification over the `flatbuffers` runtime crate, plus an owned type with
//! `unpack`/`pack`. Anything outside the subset is rejected with a line number.

mod emit;
mod parse;

pub use parse::{parse, ParseError};

/// The parsed schema.
#[derive(Debug, Default)]
pub struct Schema {
    pub namespace: String,
    pub file_identifier: Option<String>,
    pub file_extension: Option<String>,
    pub root_type: Option<String>,
    pub enums: Vec<Enum>,
    pub unions: Vec<Union>,
    pub tables: Vec<Table>,
}

#[derive(Debug)]
pub struct Enum {
    pub name: String,
    pub repr: Scalar,
    pub values: Vec<EnumVal>,
}

#[derive(Debug)]
pub struct EnumVal {
    pub name: String,
    pub value: i64,
}

/// A union's members, in order: member `i` has tag `i + 1`; 0 is NONE.
#[derive(Debug)]
pub struct Union {
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Debug)]
pub struct Table {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    /// Field id (vtable slot). For a union this is the value's id; the tag is `id - 1`.
    pub id: u16,
    /// Default, already normalised to a Rust literal body (scalars and enums only).
    pub default: Option<String>,
    pub deprecated: bool,
    pub force_align: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    Scalar(Scalar),
    String,
    Enum(String, Scalar),
    Union(String),
    Table(String),
    Vector(Box<FieldType>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Bool,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Scalar {
    pub fn from_name(name: &str) -> Option<Scalar> {
        Some(match name {
            "bool" => Scalar::Bool,
            "byte" | "int8" => Scalar::I8,
            "ubyte" | "uint8" => Scalar::U8,
            "short" | "int16" => Scalar::I16,
            "ushort" | "uint16" => Scalar::U16,
            "int" | "int32" => Scalar::I32,
            "uint" | "uint32" => Scalar::U32,
            "long" | "int64" => Scalar::I64,
            "ulong" | "uint64" => Scalar::U64,
            "float" | "float32" => Scalar::F32,
            "double" | "float64" => Scalar::F64,
            _ => return None,
        })
    }

    pub fn rust(self) -> &'static str {
        match self {
            Scalar::Bool => "bool",
            Scalar::I8 => "i8",
            Scalar::U8 => "u8",
            Scalar::I16 => "i16",
            Scalar::U16 => "u16",
            Scalar::I32 => "i32",
            Scalar::U32 => "u32",
            Scalar::I64 => "i64",
            Scalar::U64 => "u64",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
        }
    }

    pub fn size(self) -> usize {
        match self {
            Scalar::Bool | Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::I64 | Scalar::U64 | Scalar::F64 => 8,
        }
    }

    pub fn is_integer(self) -> bool {
        !matches!(self, Scalar::Bool | Scalar::F32 | Scalar::F64)
    }

    /// Turns a schema default into the text of a Rust literal of this type.
    fn normalize_default(self, text: &str) -> Option<String> {
        match self {
            Scalar::Bool => match text {
                "true" | "1" => Some("true".into()),
                "false" | "0" => Some("false".into()),
                _ => None,
            },
            Scalar::F32 | Scalar::F64 => {
                let v: f64 = text.parse().ok()?;
                let s = format!("{v:?}");
                Some(if s.contains(['.', 'e']) { s } else { format!("{s}.0") })
            }
            _ => {
                let v = parse::parse_int(text)?;
                let fits = match self {
                    Scalar::I8 => i8::try_from(v).is_ok(),
                    Scalar::U8 => u8::try_from(v).is_ok(),
                    Scalar::I16 => i16::try_from(v).is_ok(),
                    Scalar::U16 => u16::try_from(v).is_ok(),
                    Scalar::I32 => i32::try_from(v).is_ok(),
                    Scalar::U32 => u32::try_from(v).is_ok(),
                    Scalar::U64 => v >= 0,
                    _ => true,
                };
                fits.then(|| v.to_string())
            }
        }
    }
}

/// Parses `src` and returns Rust source for it.
pub fn compile(src: &str) -> Result<String, ParseError> {
    let schema = parse(src)?;
    Ok(emit::emit(&schema))
}

#[cfg(test)]
mod tests;
