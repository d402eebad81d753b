//! Matrix products: agreement cases (src/ops/matmul.rs).

use super::*;

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case(
            "fully_connected_keep_dims",
            B::FULLY_CONNECTED,
            Opt::FullyConnectedOptions(Box::new(fb::FullyConnectedOptionsT {
                keep_num_dims: true,
                ..Default::default()
            })),
            vec![x(&S), cf(&[7, 4], 11), None],
            &[1, 6, 5, 7],
        ),
        case(
            "batch_matmul_adj_y_bcast",
            B::BATCH_MATMUL,
            Opt::BatchMatMulOptions(Box::new(fb::BatchMatMulOptionsT {
                adj_x: false,
                adj_y: true,
                ..Default::default()
            })),
            vec![x(&[2, 3, 4]), x(&[1, 5, 4])],
            &[2, 3, 5],
        ),
    ]
}
