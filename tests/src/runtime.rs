//! The multi-thread tokio runtime the load tests run on.

/// A multi-thread runtime with `workers` worker threads, its I/O and time drivers enabled.
///
/// # Panics
/// When the runtime cannot be built.
pub fn multi_thread_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build the tokio runtime")
}
