//! End-to-end tests of rules, one module per topic.

mod compat;
mod generated;
mod ipv6;
mod support;
