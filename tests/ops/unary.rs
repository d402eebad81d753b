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
        case("prelu", B::PRELU, Opt::NONE, vec![x(&S), cf(&[1, 1, 4], 3)], &S),
        case("sqrt", B::SQRT, Opt::NONE, vec![pos(&S)], &S),
        case("rsqrt", B::RSQRT, Opt::NONE, vec![pos(&S)], &S),
        unary("abs", B::ABS),
        unary("exp", B::EXP),
        case("log", B::LOG, Opt::NONE, vec![pos(&S)], &S),
        unary("neg", B::NEG),
    ]
}
