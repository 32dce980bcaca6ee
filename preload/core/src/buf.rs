//! A fixed-capacity byte buffer on the stack that always stays NUL-terminated.

use core::ffi::{CStr, c_char};

/// Up to `N - 1` bytes plus a terminating NUL, so the content can be handed to libc as a C
/// string at any time. Writes that do not fit are refused (the buffer keeps what it had) and
/// remembered in [`Buf::overflowed`].
pub struct Buf<const N: usize> {
    data: [u8; N],
    len: usize,
    overflow: bool,
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Buf<N> {
    pub const fn new() -> Self {
        Buf {
            data: [0; N],
            len: 0,
            overflow: false,
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut b = Self::new();
        b.push(bytes);
        b
    }

    /// Appends all of `bytes`, or nothing when they do not fit (then returns false).
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        let end = match self.len.checked_add(bytes.len()) {
            Some(end) if end < N => end,
            _ => {
                self.overflow = true;
                return false;
            }
        };
        if let Some(dst) = self.data.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
        if let Some(nul) = self.data.get_mut(end) {
            *nul = 0;
        }
        true
    }

    pub fn push_byte(&mut self, byte: u8) -> bool {
        self.push(&[byte])
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.data.get(..self.len).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left for content.
    pub fn remaining(&self) -> usize {
        N.saturating_sub(1).saturating_sub(self.len)
    }

    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    pub fn clear(&mut self) {
        self.truncate(0);
        self.overflow = false;
    }

    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            if let Some(nul) = self.data.get_mut(len) {
                *nul = 0;
            }
        }
    }

    /// Replaces the content with what `fill` writes into the buffer (it returns the length,
    /// or `None` to leave the buffer empty), without a temporary copy.
    pub fn fill(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        self.clear();
        let room = N.saturating_sub(1);
        let Some(dst) = self.data.get_mut(..room) else {
            return false;
        };
        match fill(dst) {
            Some(n) if n <= room => {
                self.len = n;
                if let Some(nul) = self.data.get_mut(n) {
                    *nul = 0;
                }
                true
            }
            _ => false,
        }
    }

    pub fn set(&mut self, bytes: &[u8]) -> bool {
        self.clear();
        self.push(bytes)
    }

    /// The content as a C string (up to the first NUL, should the content contain one).
    pub fn as_cstr(&self) -> &CStr {
        let with_nul = self.data.get(..=self.len).unwrap_or(&[0]);
        CStr::from_bytes_until_nul(with_nul).unwrap_or(c"")
    }

    /// The content as a NUL-terminated C string (valid while the buffer lives unchanged).
    pub fn as_ptr(&self) -> *const c_char {
        self.data.as_ptr().cast()
    }

    /// Capacity for content (without the NUL).
    pub const fn capacity() -> usize {
        N.saturating_sub(1)
    }
}

impl<const N: usize> core::fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        if self.push(s.as_bytes()) {
            Ok(())
        } else {
            Err(core::fmt::Error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Buf;

    #[test]
    fn refuses_what_does_not_fit_and_stays_terminated() {
        let mut b = Buf::<4>::new();
        assert!(b.push(b"ab"));
        assert!(!b.push(b"cd"));
        assert_eq!(b.as_bytes(), b"ab");
        assert!(b.overflowed());
        assert!(b.push(b"c"));
        assert_eq!(b.as_bytes(), b"abc");
        assert!(!b.push_byte(b'd'));
    }
}
