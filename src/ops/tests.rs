//! Consistency of the registry: every fact is stated once and the facts agree with each other
//! and with the runtime-version table.

use super::*;
use crate::schema::TensorType;
use crate::tflite::versions::op_runtime_version;

/// (op, version) pairs the passes write that LiteRT's runtime-version table does not list, and
/// why that is right. `min_runtime_version` skips them, as TF's converter does.
const UNLISTED_VERSIONS: &[(BuiltinOperator, i32, &str)] =
    &[(BuiltinOperator::SQRT, 2, "TF 2.21 writes v2 for int8; runtime_version.cc never added it")];

/// Signatures of every form the passes write: float, hybrid (weights int8, per channel or
/// not), int8 and 16x8, with default options.
fn signatures(options: &BuiltinOptionsT) -> Vec<OpSignature<'_>> {
    let t = |dtype, per_channel| Some(TensorSig { dtype, rank: 4, per_channel, scale: Some(0.5) });
    let mut v = Vec::new();
    for act in [TensorType::FLOAT32, TensorType::INT8, TensorType::INT16] {
        for (w, pc) in [(TensorType::FLOAT32, false), (TensorType::INT8, false), (TensorType::INT8, true)] {
            let inputs = vec![t(act, false), t(w, pc), t(act, false), t(TensorType::INT32, false)];
            let outputs = vec![TensorSig { dtype: act, rank: 4, per_channel: false, scale: Some(0.5) }];
            v.push(OpSignature { inputs, outputs, options });
        }
    }
    v
}

#[test]
fn every_op_with_an_integer_or_hybrid_rule_has_a_float_kernel() {
    for def in registry().entries() {
        if def.integer.is_some() || def.hybrid.is_some() {
            assert!(def.kernel.is_some(), "{:?} is quantized but has no float kernel to calibrate it", def.key);
        }
    }
}

#[test]
fn every_version_the_passes_write_is_listed_and_known_to_the_runtime_table() {
    let options = BuiltinOptionsT::NONE;
    let mut bad = Vec::new();
    for def in registry().entries() {
        let OpKey::Builtin(op) = def.key else { continue };
        for sig in signatures(&options) {
            let v = (def.version)(&sig);
            assert!(def.versions.contains(&v), "{op:?}: version {v} for {sig:?} is not in {:?}", def.versions);
        }
        for &v in def.versions {
            let unlisted = UNLISTED_VERSIONS.iter().any(|&(o, u, _)| o == op && u == v);
            if op_runtime_version(op, v).is_some() == unlisted {
                bad.push(format!(
                    "{op:?} v{v}: {}",
                    if unlisted { "listed as unlisted, but the table has it" } else { "not in the runtime table" }
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn operand_roles_are_stated_once_and_agree() {
    for def in registry().entries() {
        let mut slots: Vec<usize> = def.roles.iter().map(|r| r.0).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), def.roles.len(), "{:?}: a slot has two roles", def.key);
        for &(slot, role) in def.roles {
            if let Role::Bias { input, weights } = role {
                assert!(matches!(def.role(weights), Some(Role::Weights { .. })), "{:?}: bias of non-weights", def.key);
                assert!(input != slot && input != weights && def.role(input).is_none(), "{:?}: bias input", def.key);
            }
        }
        let weighted = def.roles.iter().any(|r| matches!(r.1, Role::Weights { .. } | Role::Table));
        assert_eq!(weighted, def.hybrid.is_some(), "{:?}: weight roles and the hybrid form disagree", def.key);
    }
}

#[test]
fn fused_activations_round_trip_through_the_options() {
    use crate::schema::ActivationFunctionType as A;
    let mut checked = 0;
    for def in registry().entries() {
        let Some(field) = def.activation else { continue };
        let OpKey::Builtin(op) = def.key else { continue };
        // An op's own options table: found by setting on every variant the registry names.
        let mut options = options_of(op);
        assert_eq!((field.get)(&options), Some(A::NONE), "{op:?}: default options");
        (field.set)(&mut options, A::RELU6);
        assert_eq!((field.get)(&options), Some(A::RELU6), "{op:?}");
        assert_eq!((field.get)(&BuiltinOptionsT::NONE), None, "{op:?}: absent options");
        checked += 1;
    }
    assert!(checked >= 10, "{checked}");
}

/// The default options table of an op that takes a fused activation.
fn options_of(op: BuiltinOperator) -> BuiltinOptionsT {
    use BuiltinOperator as B;
    use BuiltinOptionsT as O;
    match op {
        B::CONV_2D => O::Conv2DOptions(Box::default()),
        B::DEPTHWISE_CONV_2D => O::DepthwiseConv2DOptions(Box::default()),
        B::TRANSPOSE_CONV => O::TransposeConvOptions(Box::default()),
        B::FULLY_CONNECTED => O::FullyConnectedOptions(Box::default()),
        B::ADD => O::AddOptions(Box::default()),
        B::SUB => O::SubOptions(Box::default()),
        B::MUL => O::MulOptions(Box::default()),
        B::DIV => O::DivOptions(Box::default()),
        B::MAX_POOL_2D | B::AVERAGE_POOL_2D | B::L2_POOL_2D => O::Pool2DOptions(Box::default()),
        other => panic!("{other:?}: add its options table here"),
    }
}

#[test]
fn weight_ops_have_their_weights_where_tf_puts_them() {
    // Facts from TF's converter (reference/tflite-quantization-facts.md, §1 and §3.3).
    let weights = |op| registry().builtin(op).and_then(OpDef::weights);
    assert_eq!(weights(BuiltinOperator::CONV_2D), Some((1, Some(0))));
    assert_eq!(weights(BuiltinOperator::DEPTHWISE_CONV_2D), Some((1, Some(3))));
    assert_eq!(weights(BuiltinOperator::FULLY_CONNECTED), Some((1, Some(0))));
    assert_eq!(weights(BuiltinOperator::TRANSPOSE_CONV), Some((1, Some(0))));
    assert_eq!(weights(BuiltinOperator::BATCH_MATMUL), Some((1, None)));
    assert_eq!(registry().builtin(BuiltinOperator::TRANSPOSE_CONV).and_then(OpDef::bias), Some(3));
}
