//! Normalizations: agreement cases (src/ops/normalize.rs).

use super::*;

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case("softmax", B::SOFTMAX, Opt::SoftmaxOptions(Box::new(fb::SoftmaxOptionsT { beta: 0.5 })), vec![x(&S)], &S),
        unary("log_softmax", B::LOG_SOFTMAX),
        unary("l2_norm", B::L2_NORMALIZATION),
        // Wide rows and ranges: the int16 SOFTMAX tables' clamped tail, long sums.
        case(
            "softmax_wide",
            B::SOFTMAX,
            Opt::SoftmaxOptions(Box::new(fb::SoftmaxOptionsT { beta: 1.0 })),
            vec![Some((vec![3, 100], Data::Input(-12.0, 12.0)))],
            &[3, 100],
        ),
        case(
            "softmax_beta2",
            B::SOFTMAX,
            Opt::SoftmaxOptions(Box::new(fb::SoftmaxOptionsT { beta: 2.0 })),
            vec![Some((vec![4, 7], Data::Input(-1.0, 2.0)))],
            &[4, 7],
        ),
        case(
            "log_softmax_wide",
            B::LOG_SOFTMAX,
            Opt::NONE,
            vec![Some((vec![4, 33], Data::Input(-8.0, 6.0)))],
            &[4, 33],
        ),
        // Asymmetric input (a non-zero int8 zero point).
        case(
            "l2_norm_offset",
            B::L2_NORMALIZATION,
            Opt::NONE,
            vec![Some((vec![6, 12], Data::Input(0.1, 5.0)))],
            &[6, 12],
        ),
        case(
            "l2_norm_small",
            B::L2_NORMALIZATION,
            Opt::NONE,
            vec![Some((vec![5, 3], Data::Input(-0.01, 0.01)))],
            &[5, 3],
        ),
    ]
}
