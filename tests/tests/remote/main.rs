//! End-to-end tests of remote, one module per topic.

mod auth;
mod dialogue;
mod interop;
mod mx;
mod policy;
mod support;
mod tls;
