//! End-to-end tests of deliver, one module per topic.

mod local;
mod pipeline;
mod users;
