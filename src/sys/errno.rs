//! The calling thread's `errno`.

/// `errno(3)`: the calling thread's last error number.
///
/// Async-signal-safe: one read of the thread's errno slot. Use it right after a raw call that
/// failed, before anything else can overwrite the slot.
///
/// [`errno(3)`]: https://man7.org/linux/man-pages/man3/errno.3.html
#[doc(alias = "__errno_location")]
pub fn errno() -> i32 {
    // SAFETY: __errno_location always returns a valid pointer to the calling thread's slot.
    unsafe { *libc::__errno_location() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_last_error() {
        // SAFETY: close(2) on a descriptor that cannot be open only sets errno.
        let r = unsafe { libc::close(-1) };
        assert_eq!(r, -1);
        assert_eq!(super::errno(), libc::EBADF);
    }
}
