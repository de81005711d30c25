//! End-to-end tests of tcpserver, one module per topic.

mod env;
mod families;
mod limits;
mod misc;
mod privs;
mod rule_limits;
mod rules;
mod support;
mod tcp_env;
