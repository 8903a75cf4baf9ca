//! Two requests, each with its own ticket, first as tokio tasks across awaits, then as threads.
//!
//! Run with `cargo run -p contextvars-examples --example async_tickets`.

use std::time::Duration;

use contextvars::{ContextVar, FutureExt};

static TICKET: ContextVar<&'static str> = ContextVar::with_default("ticket", || "no ticket");

/// A request handler deep in the stack: it reads the ticket without being passed it.
async fn handle(ticket: &'static str, sleep: Duration) {
    let token = TICKET.set(ticket);
    println!("  {ticket}: set, now {}", TICKET.get());
    tokio::time::sleep(sleep).await;
    println!(
        "  {ticket}: after sleeping {sleep:?} on {:?}, still {}",
        std::thread::current().id(),
        TICKET.get()
    );
    TICKET.reset(token).expect("reset in the task that set it");
    println!("  {ticket}: reset, now {}", TICKET.get());
}

fn threads() {
    let spawn = |ticket: &'static str, sleep: Duration| {
        contextvars::thread::spawn(move || {
            let token = TICKET.set(ticket);
            std::thread::sleep(sleep);
            println!(
                "  {ticket}: thread {:?} sees {}",
                std::thread::current().id(),
                TICKET.get()
            );
            TICKET
                .reset(token)
                .expect("reset in the thread that set it");
        })
    };
    let a = spawn("TICKET-A", Duration::from_millis(20));
    let b = spawn("TICKET-B", Duration::from_millis(10));
    a.join().unwrap();
    b.join().unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("Two spawned tasks, each in its own copy of main's context:");
    let a = contextvars::spawn(handle("TICKET-A", Duration::from_millis(20)));
    let b = contextvars::spawn(handle("TICKET-B", Duration::from_millis(10)));
    a.await.unwrap();
    b.await.unwrap();
    println!("main sees: {}", TICKET.get());

    println!("\nThe same two handlers joined in one task, each future wrapped:");
    tokio::join!(
        handle("TICKET-A", Duration::from_millis(20)).with_current_context(),
        handle("TICKET-B", Duration::from_millis(10)).with_current_context(),
    );
    println!("main sees: {}", TICKET.get());

    println!("\nTwo threads, each starting in a copy of main's context:");
    threads();
    println!("main sees: {}", TICKET.get());
}
