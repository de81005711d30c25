//! The pieces shared with tcpserver (DNS, ident, the environment in
//! pathexec order, `$PATH` search), reached only through here so one line
//! changes when they move to their own crate.

pub use tcpserver::server::path_candidates;
pub use tcpserver::{addr, dns, env, ident, resolver};
