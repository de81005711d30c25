//! End-to-end tests of deliver, one module per topic.

mod dotqmail_tools;
mod local;
mod pipeline;
mod users;
