mod krate {
    #[contextvars::main(crate = contextvars, crate = contextvars)]
    async fn main() {}
}

mod workers {
    #[contextvars::main(worker_threads = 2, worker_threads = 4)]
    async fn main() {}
}

fn main() {}
