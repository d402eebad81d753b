//! Elementwise unary ops: agreement cases (src/ops/unary.rs).

use super::*;

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        unary("relu", B::RELU),
        unary("relu6", B::RELU6),
        unary("relu_n1_to_1", B::RELU_N1_TO_1),
        unary("logistic", B::LOGISTIC),
        unary("tanh", B::TANH),
        unary("hard_swish", B::HARD_SWISH),
        // A narrow input range makes the reluish rescale shift right, a wide one further left.
        case("hard_swish_narrow", B::HARD_SWISH, Opt::NONE, vec![input(&S, -0.5, 0.5)], &S),
        case("hard_swish_wide", B::HARD_SWISH, Opt::NONE, vec![input(&S, -12.0, 9.0)], &S),
        unary("relu_0_to_1", B::RELU_0_TO_1),
        case(
            "gelu_exact",
            B::GELU,
            Opt::GeluOptions(Box::new(fb::GeluOptionsT { approximate: false })),
            vec![x(&S)],
            &S,
        ),
        case(
            "gelu_approx",
            B::GELU,
            Opt::GeluOptions(Box::new(fb::GeluOptionsT { approximate: true })),
            vec![x(&S)],
            &S,
        ),
        case(
            "leaky_relu",
            B::LEAKY_RELU,
            Opt::LeakyReluOptions(Box::new(fb::LeakyReluOptionsT { alpha: 0.2 })),
            vec![x(&S)],
            &S,
        ),
        case(
            "leaky_relu_negative",
            B::LEAKY_RELU,
            Opt::LeakyReluOptions(Box::new(fb::LeakyReluOptionsT { alpha: -0.3 })),
            vec![x(&S)],
            &S,
        ),
        // alpha per channel (broadcast), per element, and one for all.
        case("prelu", B::PRELU, Opt::NONE, vec![x(&S), cf(&[1, 1, 4], 3)], &S),
        case("prelu_full", B::PRELU, Opt::NONE, vec![x(&S), cf(&S, 4)], &S),
        case("prelu_one", B::PRELU, Opt::NONE, vec![x(&S), cf(&[1], 5)], &S),
        case("sqrt", B::SQRT, Opt::NONE, vec![pos(&S)], &S),
        case("rsqrt", B::RSQRT, Opt::NONE, vec![pos(&S)], &S),
        case("rsqrt_wide", B::RSQRT, Opt::NONE, vec![input(&S, 0.01, 60.0)], &S),
        case("sqrt_wide", B::SQRT, Opt::NONE, vec![input(&S, 0.0, 300.0)], &S),
        case("abs_shifted", B::ABS, Opt::NONE, vec![input(&S, -1.0, 5.0)], &S),
        unary("abs", B::ABS),
        unary("exp", B::EXP),
        case("log", B::LOG, Opt::NONE, vec![pos(&S)], &S),
        unary("neg", B::NEG),
        // Ranges past the int16 tables' saturation (|x| > 10.7), and narrow ones (large shifts).
        wide("logistic_wide", B::LOGISTIC, Opt::NONE, -14.0, 14.0),
        wide("tanh_wide", B::TANH, Opt::NONE, -14.0, 14.0),
        wide("logistic_narrow", B::LOGISTIC, Opt::NONE, -0.3, 0.2),
        wide("tanh_narrow", B::TANH, Opt::NONE, -0.2, 0.3),
        // Ranges of about ±8 and ±16 calibrate int16 input scales of (nearly) 2^−12 and 2^−11,
        // for which LiteRT runs its gemmlowp kernels instead of the table.
        wide("logistic_pot", B::LOGISTIC, Opt::NONE, -8.0, 8.0),
        wide("tanh_pot", B::TANH, Opt::NONE, -8.0, 8.0),
        wide("logistic_pot2", B::LOGISTIC, Opt::NONE, -16.0, 16.0),
        wide("tanh_pot2", B::TANH, Opt::NONE, -16.0, 16.0),
        wide("exp_wide", B::EXP, Opt::NONE, -6.0, 2.5),
        wide("log_wide", B::LOG, Opt::NONE, 0.7, 60.0),
        wide(
            "gelu_exact_wide",
            B::GELU,
            Opt::GeluOptions(Box::new(fb::GeluOptionsT { approximate: false })),
            -9.0,
            7.0,
        ),
        wide(
            "gelu_approx_wide",
            B::GELU,
            Opt::GeluOptions(Box::new(fb::GeluOptionsT { approximate: true })),
            -9.0,
            7.0,
        ),
    ]
}

/// A unary op over [2, 250] inputs in [lo, hi).
fn wide(name: &'static str, op: BuiltinOperator, options: Opt, lo: f32, hi: f32) -> Case {
    case(name, op, options, vec![Some((vec![2, 250], Data::Input(lo, hi)))], &[2, 250])
}

/// A model input of `shape` filled with floats in [lo, hi).
fn input(shape: &[i32], lo: f32, hi: f32) -> Option<(Vec<i32>, Data)> {
    Some((shape.to_vec(), Data::Input(lo, hi)))
}
