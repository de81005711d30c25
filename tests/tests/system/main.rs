//! End-to-end tests of system, one module per topic.

mod admin;
mod dotqmail_tools;
mod guide;
mod readme;
mod run;
mod setup;
mod support;
