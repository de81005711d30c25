//! tcpserver: the ucspi-tcp super-server
//!
//! (Being written: see the open issues.)
