//! qmail-queue and the queue layout; qmail-qstat, qmail-qread
//!
//! (Being written: see the open issues.)
