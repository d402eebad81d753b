//! Hand-written protobuf bindings for the parts of TensorFlow's GraphDef that
//! the importer reads. Field numbers follow tensorflow/core/framework/*.proto.
//! Fields the importer never looks at are left out; prost skips them.

use bytes::Bytes;

/// A decode error in one short line: prost prints the whole path of nested fields
/// (`failed to decode Protobuf message: NodeDef.name: GraphDef.node: …: description`), which
/// grows with the nesting; this keeps the innermost field and the description.
pub fn decode_reason(e: &prost::DecodeError) -> String {
    let full = e.to_string();
    let rest = full.strip_prefix("failed to decode Protobuf message: ").unwrap_or(&full);
    let is_field = |p: &str| {
        p.split_once('.').is_some_and(|(m, f)| {
            !m.is_empty() && !f.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        })
    };
    let parts: Vec<&str> = rest.split(": ").collect();
    let fields = parts.iter().take_while(|p| is_field(p)).count();
    let description = parts[fields..].join(": ");
    let reason = match parts.first().filter(|_| fields > 0) {
        Some(inner) => format!("{inner}: {description}"),
        None => description,
    };
    crate::ir::cap(&reason, 120)
}

/// tensorflow.GraphDef
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphDef {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeDef>,
    #[prost(message, optional, tag = "4")]
    pub versions: Option<VersionDef>,
    /// Deprecated single version number.
    #[prost(int32, tag = "3")]
    pub version: i32,
    /// Functions: bodies of calls and of functional control flow.
    #[prost(message, optional, tag = "2")]
    pub library: Option<FunctionDefLibrary>,
}

/// tensorflow.FunctionDefLibrary
#[derive(Clone, PartialEq, prost::Message)]
pub struct FunctionDefLibrary {
    #[prost(message, repeated, tag = "1")]
    pub function: Vec<FunctionDef>,
}

/// tensorflow.FunctionDef. Body inputs are an input-arg name or
/// `node:out_arg:k` (see [`OpDef`] for the flat index).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FunctionDef {
    #[prost(message, optional, tag = "1")]
    pub signature: Option<OpDef>,
    #[prost(message, repeated, tag = "3")]
    pub node_def: Vec<NodeDef>,
    /// Output-arg name → `node:out_arg:k` or an input-arg name.
    #[prost(btree_map = "string, string", tag = "4")]
    pub ret: std::collections::BTreeMap<String, String>,
    #[prost(btree_map = "string, message", tag = "5")]
    pub attr: std::collections::BTreeMap<String, AttrValue>,
    #[prost(btree_map = "string, string", tag = "6")]
    pub control_ret: std::collections::BTreeMap<String, String>,
}

/// tensorflow.OpDef: an op's (or a function's) argument lists.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OpDef {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, repeated, tag = "2")]
    pub input_arg: Vec<ArgDef>,
    #[prost(message, repeated, tag = "3")]
    pub output_arg: Vec<ArgDef>,
    #[prost(message, repeated, tag = "4")]
    pub attr: Vec<AttrDef>,
}

/// tensorflow.OpDef.ArgDef
#[derive(Clone, PartialEq, prost::Message)]
pub struct ArgDef {
    #[prost(string, tag = "1")]
    pub name: String,
    /// A fixed DataType, or 0 when `type_attr`/`type_list_attr` says.
    #[prost(int32, tag = "3")]
    pub r#type: i32,
    #[prost(string, tag = "4")]
    pub type_attr: String,
    /// The arg has `attr[number_attr]` tensors.
    #[prost(string, tag = "5")]
    pub number_attr: String,
    /// The arg has one tensor per type in `attr[type_list_attr]`.
    #[prost(string, tag = "6")]
    pub type_list_attr: String,
    #[prost(bool, tag = "16")]
    pub is_ref: bool,
}

/// tensorflow.OpDef.AttrDef
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttrDef {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub r#type: String,
    #[prost(message, optional, tag = "3")]
    pub default_value: Option<AttrValue>,
}

/// tensorflow.NameAttrList: a function reference.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NameAttrList {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(btree_map = "string, message", tag = "2")]
    pub attr: std::collections::BTreeMap<String, AttrValue>,
}

/// tensorflow.VersionDef
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionDef {
    #[prost(int32, tag = "1")]
    pub producer: i32,
    #[prost(int32, tag = "2")]
    pub min_consumer: i32,
    #[prost(int32, repeated, tag = "3")]
    pub bad_consumers: Vec<i32>,
}

/// tensorflow.NodeDef
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeDef {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub op: String,
    #[prost(string, repeated, tag = "3")]
    pub input: Vec<String>,
    #[prost(string, tag = "4")]
    pub device: String,
    #[prost(btree_map = "string, message", tag = "5")]
    pub attr: std::collections::BTreeMap<String, AttrValue>,
}

/// tensorflow.AttrValue (the `value` oneof).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttrValue {
    #[prost(oneof = "attr_value::Value", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10")]
    pub value: Option<attr_value::Value>,
}

pub mod attr_value {
    use super::{ListValue, NameAttrList, TensorProto, TensorShapeProto};
    use bytes::Bytes;

    /// tensorflow.AttrValue.value
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(message, tag = "1")]
        List(ListValue),
        #[prost(bytes = "bytes", tag = "2")]
        S(Bytes),
        #[prost(int64, tag = "3")]
        I(i64),
        #[prost(float, tag = "4")]
        F(f32),
        #[prost(bool, tag = "5")]
        B(bool),
        /// A DataType value.
        #[prost(int32, tag = "6")]
        Type(i32),
        #[prost(message, tag = "7")]
        Shape(TensorShapeProto),
        #[prost(message, tag = "8")]
        Tensor(TensorProto),
        #[prost(string, tag = "9")]
        Placeholder(String),
        #[prost(message, tag = "10")]
        Func(NameAttrList),
    }
}

/// tensorflow.AttrValue.ListValue
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListValue {
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub s: Vec<Bytes>,
    #[prost(int64, repeated, tag = "3")]
    pub i: Vec<i64>,
    #[prost(float, repeated, tag = "4")]
    pub f: Vec<f32>,
    #[prost(bool, repeated, tag = "5")]
    pub b: Vec<bool>,
    #[prost(int32, repeated, tag = "6")]
    pub r#type: Vec<i32>,
    #[prost(message, repeated, tag = "7")]
    pub shape: Vec<TensorShapeProto>,
    #[prost(message, repeated, tag = "8")]
    pub tensor: Vec<TensorProto>,
    #[prost(message, repeated, tag = "9")]
    pub func: Vec<NameAttrList>,
}

/// tensorflow.TensorProto
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// A DataType value.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    #[prost(int32, tag = "3")]
    pub version_number: i32,
    /// Raw little-endian element bytes; a view of the input, never copied.
    #[prost(bytes = "bytes", tag = "4")]
    pub tensor_content: Bytes,
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    #[prost(double, repeated, tag = "6")]
    pub double_val: Vec<f64>,
    #[prost(int32, repeated, tag = "7")]
    pub int_val: Vec<i32>,
    #[prost(bytes = "bytes", repeated, tag = "8")]
    pub string_val: Vec<Bytes>,
    #[prost(int64, repeated, tag = "10")]
    pub int64_val: Vec<i64>,
    #[prost(bool, repeated, tag = "11")]
    pub bool_val: Vec<bool>,
    /// fp16 / bfloat16 bit patterns, one per int32.
    #[prost(int32, repeated, tag = "13")]
    pub half_val: Vec<i32>,
    #[prost(uint32, repeated, tag = "16")]
    pub uint32_val: Vec<u32>,
    #[prost(uint64, repeated, tag = "17")]
    pub uint64_val: Vec<u64>,
}

/// tensorflow.TensorShapeProto
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

/// tensorflow.TensorShapeProto.Dim
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dim {
    /// -1 for an unknown size.
    #[prost(int64, tag = "1")]
    pub size: i64,
    #[prost(string, tag = "2")]
    pub name: String,
}

/// tensorflow.DataType values the importer handles (`_REF` forms are value+100).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    Float,
    Double,
    Int32,
    Uint8,
    Int16,
    Int8,
    String,
    Int64,
    Bool,
    Bfloat16,
    Uint16,
    Half,
    Uint32,
    Uint64,
}

impl DataType {
    pub fn from_i32(v: i32) -> Option<DataType> {
        Some(match v.rem_euclid(100) {
            1 => DataType::Float,
            2 => DataType::Double,
            3 => DataType::Int32,
            4 => DataType::Uint8,
            5 => DataType::Int16,
            6 => DataType::Int8,
            7 => DataType::String,
            9 => DataType::Int64,
            10 => DataType::Bool,
            14 => DataType::Bfloat16,
            17 => DataType::Uint16,
            19 => DataType::Half,
            22 => DataType::Uint32,
            23 => DataType::Uint64,
            _ => return None,
        })
    }

    /// Bytes per element (strings have none).
    pub fn size(self) -> usize {
        crate::ir::dtype::element_size(self.tensor_type()).unwrap_or(0)
    }

    /// The TFLite element type of the same values.
    pub fn tensor_type(self) -> crate::schema::TensorType {
        use crate::schema::TensorType;
        match self {
            DataType::Float => TensorType::FLOAT32,
            DataType::Double => TensorType::FLOAT64,
            DataType::Int32 => TensorType::INT32,
            DataType::Uint8 => TensorType::UINT8,
            DataType::Int16 => TensorType::INT16,
            DataType::Int8 => TensorType::INT8,
            DataType::String => TensorType::STRING,
            DataType::Int64 => TensorType::INT64,
            DataType::Bool => TensorType::BOOL,
            DataType::Bfloat16 => TensorType::BFLOAT16,
            DataType::Uint16 => TensorType::UINT16,
            DataType::Half => TensorType::FLOAT16,
            DataType::Uint32 => TensorType::UINT32,
            DataType::Uint64 => TensorType::UINT64,
        }
    }

    pub fn to_i32(self) -> i32 {
        match self {
            DataType::Float => 1,
            DataType::Double => 2,
            DataType::Int32 => 3,
            DataType::Uint8 => 4,
            DataType::Int16 => 5,
            DataType::Int8 => 6,
            DataType::String => 7,
            DataType::Int64 => 9,
            DataType::Bool => 10,
            DataType::Bfloat16 => 14,
            DataType::Uint16 => 17,
            DataType::Half => 19,
            DataType::Uint32 => 22,
            DataType::Uint64 => 23,
        }
    }
}
