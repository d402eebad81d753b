//! Reductions: agreement cases (src/ops/reduce.rs).

use super::*;

pub fn cases() -> Vec<Case> {
    use BuiltinOperator as B;
    vec![
        case(
            "mean_keep",
            B::MEAN,
            Opt::ReducerOptions(Box::new(fb::ReducerOptionsT { keep_dims: true })),
            vec![x(&S), ci(&[1, 2])],
            &[1, 1, 1, 4],
        ),
        case(
            "mean_keep_wide",
            B::MEAN,
            Opt::ReducerOptions(Box::new(fb::ReducerOptionsT { keep_dims: true })),
            vec![x(&[2, 3, 4, 21]), ci(&[2, -3])],
            &[2, 1, 1, 21],
        ),
        case(
            "mean_hw",
            B::MEAN,
            Opt::ReducerOptions(Box::new(fb::ReducerOptionsT { keep_dims: false })),
            vec![x(&S), ci(&[1, 2])],
            &[1, 4],
        ),
        case(
            "mean_last_keep",
            B::MEAN,
            Opt::ReducerOptions(Box::new(fb::ReducerOptionsT { keep_dims: true })),
            vec![x(&S), ci(&[-1])],
            &[1, 6, 5, 1],
        ),
        case("reduce_max", B::REDUCE_MAX, Opt::ReducerOptions(Box::default()), vec![x(&S), ci(&[1, 2])], &[1, 4]),
        case(
            "reduce_min_keep",
            B::REDUCE_MIN,
            Opt::ReducerOptions(Box::new(fb::ReducerOptionsT { keep_dims: true })),
            vec![x(&S), ci(&[1, 2])],
            &[1, 1, 1, 4],
        ),
        case("reduce_prod", B::REDUCE_PROD, Opt::ReducerOptions(Box::default()), vec![x(&S), ci(&[2])], &[1, 6, 4]),
        case("sum_last", B::SUM, Opt::ReducerOptions(Box::default()), vec![x(&S), ci(&[-1, 1])], &[1, 5]),
        case(
            "sum_keep",
            B::SUM,
            Opt::ReducerOptions(Box::new(fb::ReducerOptionsT { keep_dims: true })),
            vec![x(&S), ci(&[1, 2])],
            &[1, 1, 1, 4],
        ),
        case(
            "reduce_max_keep",
            B::REDUCE_MAX,
            Opt::ReducerOptions(Box::new(fb::ReducerOptionsT { keep_dims: true })),
            vec![x(&S), ci(&[-1])],
            &[1, 6, 5, 1],
        ),
        case("reduce_min_all", B::REDUCE_MIN, Opt::ReducerOptions(Box::default()), vec![x(&S), ci(&[0, 1, 2, 3])], &[]),
        case(
            "reduce_prod_keep",
            B::REDUCE_PROD,
            Opt::ReducerOptions(Box::new(fb::ReducerOptionsT { keep_dims: true })),
            vec![x(&S), ci(&[3])],
            &[1, 6, 5, 1],
        ),
    ]
}
