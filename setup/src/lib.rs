//! Installing, configuring and running a whole qmail system
//!
//! (Being written: see the open issues.)
