//! The harness itself: binaries are found, processes are cleaned up.

use std::time::Duration;

#[test]
fn a_dropped_proc_is_killed() {
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("100");
    let p = e2e::Proc::spawn(&mut cmd).unwrap();
    let pid = p.pid() as i32;
    drop(p);
    // The pid was reaped: signalling it now fails.
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err());
}

#[test]
fn poll_until_gives_up_at_the_deadline() {
    let start = std::time::Instant::now();
    let r: Option<()> = e2e::poll_until(Duration::from_millis(50), || None);
    assert!(r.is_none());
    assert!(start.elapsed() >= Duration::from_millis(50));
}
