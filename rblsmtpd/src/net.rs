//! The DNS pieces shared with tcpserver, from the `ucspi` library.

pub use ucspi::{dns, resolver};
