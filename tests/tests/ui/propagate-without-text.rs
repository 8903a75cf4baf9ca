use contextvars::context_var;

#[derive(Clone, Default)]
pub struct Session {
    pub id: u64,
}

#[context_var(default = Session::default(), propagate)]
static SESSION: Session;

fn main() {}
