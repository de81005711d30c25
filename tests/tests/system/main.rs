//! End-to-end tests of system, one module per topic.

mod admin;
mod dotqmail_tools;
mod guide;
mod manpages;
mod qmtp;
mod readme;
mod run;
mod runtls;
mod setup;
mod submission;
mod support;
