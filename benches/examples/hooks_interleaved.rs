//! The `poll10k` row of the `hooks` bench, on a machine too busy for criterion: one task that
//! yields 10,000 times, reading one variable per poll, on a plain current-thread runtime and on
//! one built with `contextvars::tokio::inherit_on_spawn`, the two runs alternating round after
//! round so that both see the same load. Prints the fastest and the median round of each, per
//! poll, and their ratio.
//!
//! ```text
//! RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR=target/tokio_unstable \
//!   cargo run --profile bench -p contextvars-benches --example hooks_interleaved -- [ROUNDS]
//! ```

#[cfg(tokio_unstable)]
fn main() {
    use std::hint::black_box;
    use std::time::Instant;

    use contextvars::ContextVar;
    use tokio::runtime::Runtime;

    static VALUE: ContextVar<u64> = ContextVar::with_default("value", || 7);
    const POLLS: u32 = 10_000;

    /// Nanoseconds per poll of one round on `runtime`.
    fn round(runtime: &Runtime) -> f64 {
        let start = Instant::now();
        runtime.block_on(async {
            let task = tokio::spawn(async {
                let mut sum = 0;
                for _ in 0..POLLS {
                    tokio::task::yield_now().await;
                    sum += VALUE.get();
                }
                sum
            });
            black_box(task.await.expect("no panic"));
        });
        start.elapsed().as_secs_f64() * 1e9 / f64::from(POLLS)
    }

    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(300, |rounds| rounds.parse().expect("a number of rounds"));
    let plain = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut builder = tokio::runtime::Builder::new_current_thread();
    let hooked = contextvars::tokio::inherit_on_spawn(&mut builder)
        .build()
        .expect("a hooked runtime");
    let (mut plain_ns, mut hooked_ns) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        plain_ns.push(round(&plain));
        hooked_ns.push(round(&hooked));
    }
    plain_ns.sort_by(f64::total_cmp);
    hooked_ns.sort_by(f64::total_cmp);
    let (plain_min, plain_median) = (plain_ns[0], plain_ns[plain_ns.len() / 2]);
    let (hooked_min, hooked_median) = (hooked_ns[0], hooked_ns[hooked_ns.len() / 2]);
    println!(
        "per poll, {rounds} rounds: plain {plain_min:.1} ns (median {plain_median:.1}), \
         hooked {hooked_min:.1} ns (median {hooked_median:.1}), ratio {:.3} (median {:.3})",
        hooked_min / plain_min,
        hooked_median / plain_median,
    );
}

#[cfg(not(tokio_unstable))]
fn main() {
    eprintln!("hooks_interleaved needs RUSTFLAGS=\"--cfg tokio_unstable\"");
}
