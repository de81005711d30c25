//! tcprules and tcprulescheck
//!
//! (Being written: see the open issues.)
