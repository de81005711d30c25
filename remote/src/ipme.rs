//! This machine's own addresses (qmail's `ipme`): an MX that points
//! here must not be used, or mail would loop back to ourselves. The rule
//! (0.0.0.0, `::`, the addresses of interfaces that are up) lives in
//! [`sys::ipme`], shared with qmail-smtpd.

pub use sys::ipme::IpMe;
