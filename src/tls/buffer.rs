//! [`Buf`]: a byte queue as a `Vec` and a read offset, reused for the session's lifetime.

/// Bytes appended at the back and consumed from the front, without shifting on every consume:
/// the front is dropped only when the `Vec` would otherwise have to grow.
#[derive(Default)]
pub(crate) struct Buf {
    data: Vec<u8>,
    start: usize,
}

impl Buf {
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.data[self.start..]
    }

    pub(crate) fn len(&self) -> usize {
        self.data.len() - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the first `n` bytes (all of them if `n` is larger).
    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    /// The `Vec` to append at most `n` bytes to, compacted first if that saves a reallocation.
    pub(crate) fn tail(&mut self, n: usize) -> &mut Vec<u8> {
        if self.start > 0 && self.data.capacity() - self.data.len() < n {
            self.data.drain(..self.start);
            self.start = 0;
        }
        &mut self.data
    }

    /// Makes room for `n` more bytes at once, so that appending them does not grow the `Vec`
    /// step by step (each step a copy into fresh memory).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.tail(n).reserve(n);
    }

    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.tail(bytes.len()).extend_from_slice(bytes);
    }

    /// Takes the contents as a `Vec` (consumed bytes dropped), leaving `replacement` (cleared).
    pub(crate) fn take(&mut self, mut replacement: Vec<u8>) -> Vec<u8> {
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        replacement.clear();
        std::mem::replace(&mut self.data, replacement)
    }

    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.start = 0;
    }
}
