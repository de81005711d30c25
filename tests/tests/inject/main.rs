//! End-to-end tests of inject, one module per topic.

mod submit;
mod through_queue;
