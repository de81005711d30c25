//! `argv` and `envp` as the kernel wants them: a NULL-terminated array of
//! pointers to C strings, borrowed from the caller.

use std::ffi::{CStr, c_char};
use std::marker::PhantomData;

/// A NULL-terminated array of C strings (`argv`, `envp`) that borrows
/// its strings.
#[derive(Debug)]
pub struct CStrArray<'a> {
    ptrs: Vec<*const c_char>,
    _strings: PhantomData<&'a CStr>,
}

impl<'a> CStrArray<'a> {
    /// An empty array (just the terminating NULL).
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty array with room for `n` strings.
    pub fn with_capacity(n: usize) -> Self {
        let mut ptrs = Vec::with_capacity(n + 1);
        ptrs.push(std::ptr::null());
        CStrArray {
            ptrs,
            _strings: PhantomData,
        }
    }

    /// Append `s` before the terminating NULL.
    pub fn push(&mut self, s: &'a CStr) {
        let last = self.ptrs.len() - 1;
        self.ptrs[last] = s.as_ptr();
        self.ptrs.push(std::ptr::null());
    }

    /// The number of strings.
    pub fn len(&self) -> usize {
        self.ptrs.len() - 1
    }

    /// True when the array holds no string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The strings, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a CStr> + '_ {
        self.ptrs[..self.len()].iter().map(|&p| {
            // SAFETY: every pointer before the terminator came from a
            // `&'a CStr` in `push`, so it is a valid C string for 'a.
            unsafe { CStr::from_ptr(p) }
        })
    }
}

impl Default for CStrArray<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> FromIterator<&'a CStr> for CStrArray<'a> {
    fn from_iter<I: IntoIterator<Item = &'a CStr>>(iter: I) -> Self {
        let mut a = CStrArray::new();
        for s in iter {
            a.push(s);
        }
        a
    }
}
