//! Elementwise binary ops: agreement cases (src/ops/binary.rs).

use super::*;

/// A comparison of an input with a constant (EQUAL and NOT_EQUAL see equal values).
fn compare(name: &'static str, op: BuiltinOperator) -> Case {
    let c = Some((vec![4], Data::F32(vec![-1.0, 0.0, 0.5, 2.0])));
    Case { out_types: vec![TensorType::BOOL], ..case(name, op, Opt::NONE, vec![x(&S), c], &S) }
}

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case(
            "add_bcast_relu",
            B::ADD,
            Opt::AddOptions(Box::new(fb::AddOptionsT { fused_activation_function: Act::RELU, ..Default::default() })),
            vec![x(&S), cf(&[4], 1)],
            &S,
        ),
        case("sub_bcast", B::SUB, Opt::SubOptions(Box::default()), vec![x(&S), x(&[1, 1, 5, 1])], &S),
        case("mul_bcast", B::MUL, Opt::MulOptions(Box::default()), vec![x(&[1, 6, 1, 4]), x(&[5, 1])], &S),
        // Divisors kept away from 0: an int8 divisor near 0 carries a large relative step, so
        // LiteRT's own int8 quotient is far from the float one there (-7 dB for [0.1, 4)).
        case(
            "div",
            B::DIV,
            Opt::DivOptions(Box::default()),
            vec![x(&S), Some((vec![1, 6, 1, 1], Data::Input(0.5, 4.0)))],
            &S,
        ),
        case(
            "div_wide_divisor",
            B::DIV,
            Opt::DivOptions(Box::default()),
            vec![x(&S), Some((vec![1, 6, 1, 1], Data::Input(1.0, 4.0)))],
            &S,
        ),
        case("maximum", B::MAXIMUM, Opt::NONE, vec![x(&S), cf(&[1, 1, 1, 4], 2)], &S),
        case("minimum", B::MINIMUM, Opt::NONE, vec![x(&S), x(&S)], &S),
        case("maximum_bcast", B::MAXIMUM, Opt::NONE, vec![x(&S), x(&[1, 1, 5, 1])], &S),
        case("minimum_bcast", B::MINIMUM, Opt::NONE, vec![x(&[6, 1, 4]), cf(&[1, 5, 1], 3)], &[6, 5, 4]),
        case(
            "div_relu",
            B::DIV,
            Opt::DivOptions(Box::new(fb::DivOptionsT { fused_activation_function: Act::RELU })),
            vec![x(&S), Some((S.to_vec(), Data::Input(0.5, 4.0)))],
            &S,
        ),
        case("squared_difference", B::SQUARED_DIFFERENCE, Opt::NONE, vec![x(&S), x(&[4])], &S),
        compare("less", B::LESS),
        compare("less_equal", B::LESS_EQUAL),
        compare("greater", B::GREATER),
        compare("greater_equal", B::GREATER_EQUAL),
        compare("equal", B::EQUAL),
        compare("not_equal", B::NOT_EQUAL),
        // Two inputs with their own ranges, broadcast.
        Case {
            out_types: vec![TensorType::BOOL],
            ..case("greater_bcast", B::GREATER, Opt::NONE, vec![x(&S), pos(&[1, 1, 1, 4])], &S)
        },
        Case {
            out_types: vec![TensorType::BOOL],
            ..case("less_equal_bcast", B::LESS_EQUAL, Opt::NONE, vec![x(&[5, 1]), x(&[1, 6, 1, 4])], &[1, 6, 5, 4])
        },
        case(
            "select_v2_bcast",
            B::SELECT_V2,
            Opt::NONE,
            vec![
                Some((vec![1, 1, 5, 1], Data::Bool(vec![true, false, false, true, true]))),
                x(&S),
                Some((vec![1, 6, 5, 4], Data::Input(-1.0, 5.0))),
            ],
            &S,
        ),
    ]
}
