//! End-to-end tests of tcpclient, rblsmtpd and the small tools of ucspi-tcp, one module per topic.

mod rblsmtpd;
mod support;
mod tcpclient;
mod tools;
