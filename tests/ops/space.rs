//! Blocks of the spatial axes to and from the batch axis: agreement cases (src/ops/space.rs).

use super::*;

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case(
            "space_to_batch_nd",
            B::SPACE_TO_BATCH_ND,
            Opt::NONE,
            vec![x(&[1, 4, 6, 2]), ci(&[2, 2]), ci2(&[2, 2], &[0, 0, 1, 1])],
            &[4, 2, 4, 2],
        ),
        case(
            "batch_to_space_nd",
            B::BATCH_TO_SPACE_ND,
            Opt::NONE,
            vec![x(&[4, 2, 3, 2]), ci(&[2, 2]), ci2(&[2, 2], &[0, 0, 0, 1])],
            &[1, 4, 5, 2],
        ),
    ]
}
