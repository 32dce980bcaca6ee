//! A fixed-capacity byte buffer on the stack that always stays NUL-terminated.

use core::ffi::{CStr, c_char};
use core::mem::MaybeUninit;

/// Up to `N - 1` bytes plus a terminating NUL, so the content can be handed to libc as a C
/// string at any time. Writes that do not fit are refused (the buffer keeps what it had) and
/// remembered in [`Buf::overflowed`].
///
/// The storage beyond the content is left uninitialised: a 4 KiB path buffer that had to be
/// zeroed would write (and so fault in) a whole stack page in every `fork` child that checks a
/// launch, where each new page costs more than the check itself.
///
/// `repr(C)` with the length first: writing a short value touches the page where the buffer
/// starts, not also the one where a large buffer ends.
#[repr(C)]
pub struct Buf<const N: usize> {
    len: usize,
    overflow: bool,
    data: [MaybeUninit<u8>; N],
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Buf<N> {
    pub const fn new() -> Self {
        const { assert!(N > 0) };
        let mut data = [const { MaybeUninit::uninit() }; N];
        data[0] = MaybeUninit::new(0);
        Buf {
            data,
            len: 0,
            overflow: false,
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut b = Self::new();
        b.push(bytes);
        b
    }

    fn terminate(&mut self, at: usize) {
        if let Some(nul) = self.data.get_mut(at) {
            *nul = MaybeUninit::new(0);
        }
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
            for (d, &b) in dst.iter_mut().zip(bytes) {
                *d = MaybeUninit::new(b);
            }
        }
        self.len = end;
        self.terminate(end);
        true
    }

    pub fn push_byte(&mut self, byte: u8) -> bool {
        self.push(&[byte])
    }

    pub fn as_bytes(&self) -> &[u8] {
        let len = self.len.min(N);
        // SAFETY: the first `len` bytes are always initialised (every write initialises the
        // bytes up to the new length and the NUL after them).
        unsafe { core::slice::from_raw_parts(self.data.as_ptr().cast::<u8>(), len) }
    }

    /// The content with its NUL.
    fn with_nul(&self) -> &[u8] {
        let len = (self.len + 1).min(N);
        // SAFETY: as in `as_bytes`, plus the NUL at `len`, which every write puts there.
        unsafe { core::slice::from_raw_parts(self.data.as_ptr().cast::<u8>(), len) }
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

    /// Records that something did not fit (for results built elsewhere).
    pub fn mark_overflow(&mut self) {
        self.overflow = true;
    }

    pub fn clear(&mut self) {
        self.truncate(0);
        self.overflow = false;
    }

    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.terminate(len);
        }
    }

    /// Replaces the content with what `fill` writes into the buffer (given its address and
    /// room; it returns the length written, or `None` to leave the buffer empty), without a
    /// temporary copy.
    pub fn fill(&mut self, fill: impl FnOnce(*mut u8, usize) -> Option<usize>) -> bool {
        self.clear();
        let room = N.saturating_sub(1);
        match fill(self.data.as_mut_ptr().cast::<u8>(), room) {
            Some(n) if n <= room => {
                self.len = n;
                self.terminate(n);
                true
            }
            _ => {
                self.terminate(0);
                false
            }
        }
    }

    pub fn set(&mut self, bytes: &[u8]) -> bool {
        self.clear();
        self.push(bytes)
    }

    /// The content as a C string (up to the first NUL, should the content contain one).
    pub fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(self.with_nul()).unwrap_or(c"")
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
