//! Hand-written protobuf bindings for the parts of a SavedModel the freezer
//! reads. Field numbers follow tensorflow/core/protobuf/{saved_model,
//! meta_graph,saved_object_graph,trackable_object_graph,saver}.proto; fields
//! never read are left out, and prost skips them.

use crate::graphdef::proto::{GraphDef, OpDef, TensorShapeProto};
use std::collections::BTreeMap;

/// tensorflow.SavedModel
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedModel {
    #[prost(int64, tag = "1")]
    pub saved_model_schema_version: i64,
    #[prost(message, repeated, tag = "2")]
    pub meta_graphs: Vec<MetaGraphDef>,
}

/// tensorflow.MetaGraphDef
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetaGraphDef {
    #[prost(message, optional, tag = "1")]
    pub meta_info_def: Option<MetaInfoDef>,
    #[prost(message, optional, tag = "2")]
    pub graph_def: Option<GraphDef>,
    #[prost(message, optional, tag = "3")]
    pub saver_def: Option<SaverDef>,
    #[prost(btree_map = "string, message", tag = "5")]
    pub signature_def: BTreeMap<String, SignatureDef>,
    #[prost(message, optional, tag = "7")]
    pub object_graph_def: Option<SavedObjectGraph>,
}

/// tensorflow.MetaGraphDef.MetaInfoDef
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetaInfoDef {
    #[prost(message, optional, tag = "2")]
    pub stripped_op_list: Option<OpList>,
    #[prost(string, repeated, tag = "4")]
    pub tags: Vec<String>,
    #[prost(string, tag = "5")]
    pub tensorflow_version: String,
    /// Attrs equal to their OpDef default were removed from every node.
    #[prost(bool, tag = "7")]
    pub stripped_default_attrs: bool,
}

/// tensorflow.OpList
#[derive(Clone, PartialEq, prost::Message)]
pub struct OpList {
    #[prost(message, repeated, tag = "1")]
    pub op: Vec<OpDef>,
}

/// tensorflow.SaverDef
#[derive(Clone, PartialEq, prost::Message)]
pub struct SaverDef {
    #[prost(string, tag = "1")]
    pub filename_tensor_name: String,
    #[prost(string, tag = "3")]
    pub restore_op_name: String,
}

/// tensorflow.SignatureDef
#[derive(Clone, PartialEq, prost::Message)]
pub struct SignatureDef {
    #[prost(btree_map = "string, message", tag = "1")]
    pub inputs: BTreeMap<String, TensorInfo>,
    #[prost(btree_map = "string, message", tag = "2")]
    pub outputs: BTreeMap<String, TensorInfo>,
    #[prost(string, tag = "3")]
    pub method_name: String,
}

/// tensorflow.TensorInfo: only the dense `name` encoding is supported.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorInfo {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int32, tag = "2")]
    pub dtype: i32,
    #[prost(message, optional, tag = "3")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// Set for sparse (4) or composite (5) tensors, which are refused.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub coo_sparse: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub composite_tensor: Option<Vec<u8>>,
}

/// tensorflow.SavedObjectGraph
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedObjectGraph {
    #[prost(message, repeated, tag = "1")]
    pub nodes: Vec<SavedObject>,
    #[prost(btree_map = "string, message", tag = "2")]
    pub concrete_functions: BTreeMap<String, SavedConcreteFunction>,
}

/// tensorflow.SavedObject (the kinds the freezer needs).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedObject {
    #[prost(message, repeated, tag = "1")]
    pub children: Vec<ObjectReference>,
    #[prost(message, optional, tag = "7")]
    pub variable: Option<SavedVariable>,
    #[prost(message, optional, tag = "9")]
    pub constant: Option<SavedConstant>,
    #[prost(message, optional, tag = "8")]
    pub bare_concrete_function: Option<SavedBareConcreteFunction>,
    /// Set for an asset (5), resource (10) or captured tensor (12): refused when captured.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub asset: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "10")]
    pub resource: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "12")]
    pub captured_tensor: Option<Vec<u8>>,
}

/// tensorflow.TrackableObjectGraph.TrackableObject.ObjectReference
#[derive(Clone, PartialEq, prost::Message)]
pub struct ObjectReference {
    #[prost(int32, tag = "1")]
    pub node_id: i32,
    #[prost(string, tag = "2")]
    pub local_name: String,
}

/// tensorflow.SavedVariable
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedVariable {
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
    #[prost(string, tag = "6")]
    pub name: String,
}

/// tensorflow.SavedConstant: names a `Const` node of the main graph.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedConstant {
    #[prost(string, tag = "1")]
    pub operation: String,
}

/// tensorflow.SavedBareConcreteFunction
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedBareConcreteFunction {
    #[prost(string, tag = "1")]
    pub concrete_function_name: String,
}

/// tensorflow.SavedConcreteFunction
#[derive(Clone, PartialEq, prost::Message)]
pub struct SavedConcreteFunction {
    /// Object ids bound, in order, to the function's last input args.
    #[prost(int32, repeated, tag = "2")]
    pub bound_inputs: Vec<i32>,
}

/// tensorflow.TrackableObjectGraph (the checkpoint's `_CHECKPOINTABLE_OBJECT_GRAPH`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TrackableObjectGraph {
    #[prost(message, repeated, tag = "1")]
    pub nodes: Vec<TrackableObject>,
}

/// tensorflow.TrackableObjectGraph.TrackableObject
#[derive(Clone, PartialEq, prost::Message)]
pub struct TrackableObject {
    #[prost(message, repeated, tag = "1")]
    pub children: Vec<ObjectReference>,
    #[prost(message, repeated, tag = "2")]
    pub attributes: Vec<SerializedTensor>,
}

/// tensorflow.TrackableObjectGraph.TrackableObject.SerializedTensor
#[derive(Clone, PartialEq, prost::Message)]
pub struct SerializedTensor {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub checkpoint_key: String,
}
