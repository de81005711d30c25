//! The local time zone's offset from GMT, which only the C library knows
//! (TZ, /etc/localtime): predate's `Date:` line is in local time.

/// Seconds east of GMT at the moment `secs` (0 if the C library cannot
/// say).
#[allow(unsafe_code)]
pub fn offset(secs: i64) -> i64 {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value of the plain C struct
    // (integers and a null zone pointer), only ever overwritten.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals of the right types;
    // localtime_r is the reentrant form and keeps no pointer to them.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() { 0 } else { tm.tm_gmtoff as i64 }
}
