//! tcp-env: the UCSPI environment for inetd-started servers
//!
//! (Being written: see the open issues.)
