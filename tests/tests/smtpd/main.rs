//! End-to-end tests of smtpd, one module per topic.

mod auth;
mod postfix_client;
mod session;
mod support;
mod tls;
