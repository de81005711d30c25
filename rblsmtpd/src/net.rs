//! The DNS pieces shared with tcpserver, reached only through here so one
//! line changes when they move to their own crate.

pub use tcpserver::{dns, resolver};
