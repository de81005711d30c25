//! End-to-end tests of remote, one module per topic.

mod dialogue;
mod interop;
mod mx;
mod support;
mod tls;
