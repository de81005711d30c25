//! End-to-end tests of queue, one module per topic.

mod crash;
mod damage;
mod delivery;
mod hardening;
mod literal;
mod memory;
mod remote;
mod retry;
mod root;
mod support;
