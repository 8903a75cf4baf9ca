//! Everything a test logs, kept in memory: give a subscriber `move || buffer.clone()` as its
//! writer.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer whose clones append to one shared buffer.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    /// A subscriber's writer: every call hands out a clone that appends to this buffer.
    pub fn make_writer(&self) -> impl Fn() -> LogBuffer + Send + Sync + 'static {
        let buffer = self.clone();
        move || buffer.clone()
    }

    /// Everything written so far.
    ///
    /// # Panics
    /// When what was written is not UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}
