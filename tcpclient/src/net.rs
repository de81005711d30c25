//! The pieces shared with tcpserver (DNS, ident, the environment in
//! pathexec order, `$PATH` search), from the `ucspi` library.

pub use ucspi::path::path_candidates;
pub use ucspi::{addr, dns, env, ident, resolver};
