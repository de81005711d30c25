//! End-to-end tests of smtpd, one module per topic.

mod session;
