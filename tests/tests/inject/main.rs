//! End-to-end tests of inject, one module per topic.

mod sendmail_bs;
mod submit;
mod through_queue;
