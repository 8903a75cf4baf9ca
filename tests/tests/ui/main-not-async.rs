mod flavor {
    #[contextvars::main(flavor = "single")]
    async fn main() {}
}

mod sync {
    #[contextvars::main]
    fn main() {}
}

fn main() {}
