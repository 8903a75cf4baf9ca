use std::rc::Rc;

use contextvars::context_var;

#[context_var(default = Rc::new(0))]
static SHARED: Rc<u64>;

fn main() {}
