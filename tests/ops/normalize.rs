//! Normalizations: agreement cases (src/ops/normalize.rs).

use super::*;

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case("softmax", B::SOFTMAX, Opt::SoftmaxOptions(Box::new(fb::SoftmaxOptionsT { beta: 0.5 })), vec![x(&S)], &S),
        unary("log_softmax", B::LOG_SOFTMAX),
        unary("l2_norm", B::L2_NORMALIZATION),
    ]
}
