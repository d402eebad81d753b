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
        case(
            "batch_matmul_adj_x_4d_bcast",
            B::BATCH_MATMUL,
            batch_matmul(true, false),
            vec![x(&[2, 1, 4, 3]), x(&[1, 3, 4, 5])],
            &[2, 3, 3, 5],
        ),
        // Enough outputs for negative ties, where the reference and x86 roundings differ.
        case(
            "batch_matmul_large",
            B::BATCH_MATMUL,
            batch_matmul(false, false),
            vec![x(&[2, 64, 16]), x(&[2, 16, 64])],
            &[2, 64, 64],
        ),
        // Positive operands: zero points far from 0 on both sides.
        case(
            "batch_matmul_offsets",
            B::BATCH_MATMUL,
            batch_matmul(false, false),
            vec![pos(&[3, 20, 12]), pos(&[1, 12, 40])],
            &[3, 20, 40],
        ),
        case(
            "batch_matmul_rank5_adj_xy",
            B::BATCH_MATMUL,
            batch_matmul(true, true),
            vec![x(&[2, 1, 3, 4, 2]), x(&[3, 1, 5, 4])],
            &[2, 3, 3, 2, 5],
        ),
        // A constant right-hand side (weights), of lower rank.
        case(
            "batch_matmul_const_rhs",
            B::BATCH_MATMUL,
            batch_matmul(false, false),
            vec![x(&[2, 3, 6]), cf(&[6, 5], 21)],
            &[2, 3, 5],
        ),
        case(
            "batch_matmul_const_rhs_adj_y_bcast",
            B::BATCH_MATMUL,
            batch_matmul(false, true),
            vec![x(&[2, 1, 3, 4]), cf(&[3, 5, 4], 22)],
            &[2, 3, 3, 5],
        ),
    ]
}

fn batch_matmul(adj_x: bool, adj_y: bool) -> Opt {
    Opt::BatchMatMulOptions(Box::new(fb::BatchMatMulOptionsT { adj_x, adj_y, ..Default::default() }))
}
