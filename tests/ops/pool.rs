//! Pooling: agreement cases (src/ops/pool.rs).

use super::*;

fn pool(padding: Padding, f: i32, st: i32) -> Opt {
    Opt::Pool2DOptions(Box::new(fb::Pool2DOptionsT {
        padding,
        stride_w: st,
        stride_h: st,
        filter_width: f,
        filter_height: f,
        fused_activation_function: Act::NONE,
    }))
}

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case("max_pool_same", B::MAX_POOL_2D, pool(Padding::SAME, 3, 2), vec![x(&S)], &[1, 3, 3, 4]),
        case("avg_pool_same", B::AVERAGE_POOL_2D, pool(Padding::SAME, 3, 2), vec![x(&S)], &[1, 3, 3, 4]),
        case("avg_pool_valid", B::AVERAGE_POOL_2D, pool(Padding::VALID, 2, 1), vec![x(&S)], &[1, 5, 4, 4]),
        case("l2_pool_same", B::L2_POOL_2D, pool(Padding::SAME, 3, 2), vec![x(&S)], &[1, 3, 3, 4]),
        case("l2_pool_valid", B::L2_POOL_2D, pool(Padding::VALID, 2, 1), vec![x(&S)], &[1, 5, 4, 4]),
    ]
}
