//! qmail-queue: put one message into the queue. The message comes on fd 0,
//! the envelope on fd 1; the exit code says what happened (qmail-queue.8).
//! It takes no arguments; everything is in [`queue::program`].

fn main() {
    std::process::exit(queue::program::main())
}
