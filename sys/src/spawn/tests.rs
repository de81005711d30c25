use super::methods::ASYNC_SLOTS;
use super::stack::STACK_SIZE;
use super::*;
use std::ffi::CString;
use std::os::fd::AsFd;

fn run(method: Method, action: Action<'_>, log: &[Part<'_>]) -> i32 {
    let mut sp = Spawner::new(method);
    let child = Child {
        stdio: None,
        log,
        default_signals: &[Signal::SIGPIPE],
        sigmask: SigSet::empty(),
        action,
    };
    let pid = sp.spawn(&child).unwrap();
    match nix::sys::wait::waitpid(pid, None).unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, code) => code,
        other => panic!("{other:?}"),
    }
}

const ALL: [Method; 3] = [Method::Fork, Method::Vfork, Method::Async];

#[test]
fn exit_codes_come_through_every_way() {
    for m in ALL {
        assert_eq!(run(m, Action::Exit(100), &[]), 100);
    }
}

#[test]
fn exec_searches_the_candidates_in_order() {
    let missing = CString::new("/nonexistent/true").unwrap();
    let dir = CString::new("/").unwrap();
    let t = CString::new("/bin/sh").unwrap();
    let a0 = CString::new("sh").unwrap();
    let a1 = CString::new("-c").unwrap();
    let a2 = CString::new("exit 7").unwrap();
    let argv: CStrArray = [a0.as_c_str(), a1.as_c_str(), a2.as_c_str()]
        .into_iter()
        .collect();
    let envp = CStrArray::new();
    for m in ALL {
        let paths = [missing.as_c_str(), dir.as_c_str(), t.as_c_str()];
        let exec = Exec {
            paths: &paths,
            argv: &argv,
            envp: &envp,
            exec_failed: b"",
            fds_failed: b"",
        };
        assert_eq!(run(m, Action::Exec(exec), &[]), 7);
        let paths = [missing.as_c_str()];
        let exec = Exec {
            paths: &paths,
            argv: &argv,
            envp: &envp,
            exec_failed: b"",
            fds_failed: b"",
        };
        assert_eq!(run(m, Action::Exec(exec), &[]), 111);
    }
}

#[test]
fn the_socket_lands_on_fds_0_and_1() {
    use std::io::Read;
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let sh = CString::new("/bin/sh").unwrap();
    let a1 = CString::new("-c").unwrap();
    let a2 = CString::new("read x; echo \"got $x\"").unwrap();
    let argv: CStrArray = [sh.as_c_str(), a1.as_c_str(), a2.as_c_str()]
        .into_iter()
        .collect();
    let envp = CStrArray::new();
    let paths = [sh.as_c_str()];
    let mut sp = Spawner::new(Method::Async);
    let child = Child {
        stdio: Some(theirs.as_fd()),
        log: &[],
        default_signals: &[],
        sigmask: SigSet::empty(),
        action: Action::Exec(Exec {
            paths: &paths,
            argv: &argv,
            envp: &envp,
            exec_failed: b"",
            fds_failed: b"",
        }),
    };
    let pid = sp.spawn(&child).unwrap();
    drop(theirs);
    std::io::Write::write_all(&mut ours, b"hi\n").unwrap();
    let mut out = String::new();
    ours.read_to_string(&mut out).unwrap();
    assert_eq!(out, "got hi\n");
    nix::sys::wait::waitpid(pid, None).unwrap();
}

#[test]
fn many_async_children_in_flight_each_get_their_own_arguments() {
    // More children at once than there are slots: the rest are forked.
    let sh = CString::new("/bin/sh").unwrap();
    let c = CString::new("-c").unwrap();
    let mut sp = Spawner::new(Method::Async);
    let mut pids = Vec::new();
    for i in 0..(3 * ASYNC_SLOTS as i32) {
        let script = CString::new(format!("exit {}", 10 + i)).unwrap();
        let var = CString::new(format!("N={i}")).unwrap();
        let argv: CStrArray = [sh.as_c_str(), c.as_c_str(), script.as_c_str()]
            .into_iter()
            .collect();
        let envp: CStrArray = [var.as_c_str()].into_iter().collect();
        let paths = [sh.as_c_str()];
        let child = Child {
            stdio: None,
            log: &[],
            default_signals: &[Signal::SIGPIPE],
            sigmask: SigSet::empty(),
            action: Action::Exec(Exec {
                paths: &paths,
                argv: &argv,
                envp: &envp,
                exec_failed: b"",
                fds_failed: b"",
            }),
        };
        // The parent's copies go away at once; the child has its own.
        pids.push((sp.spawn(&child).unwrap(), 10 + i));
    }
    for (pid, want) in pids {
        match nix::sys::wait::waitpid(pid, None).unwrap() {
            nix::sys::wait::WaitStatus::Exited(_, code) => assert_eq!(code, want),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_log_lines_carry_the_childs_pid() {
    use std::io::Read;
    // The child writes to fd 2: run it under a shell whose fd 2 is a
    // pipe we read (so the test harness's stderr is left alone).
    let (mut r, w) = std::io::pipe().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "spawn::tests::log_helper",
            "--nocapture",
            "--ignored",
        ])
        .env("SPAWN_LOG_HELPER", "1")
        .stderr(w)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("pid "))
        .unwrap_or_else(|| panic!("{text}"));
    let mut w = line.split(' ');
    assert_eq!(w.next(), Some("pid"));
    let pid = w.next().unwrap();
    assert_eq!(w.next(), Some("ok"));
    assert_eq!(w.next(), Some(pid));
    assert!(pid.parse::<u32>().unwrap() > 1);
}

/// Run by the test above in a child process with fd 2 on a pipe.
#[test]
#[ignore]
fn log_helper() {
    if std::env::var_os("SPAWN_LOG_HELPER").is_none() {
        return;
    }
    for m in ALL {
        let log = [
            Part::Text(b"pid "),
            Part::Pid,
            Part::Text(b" ok "),
            Part::Pid,
            Part::Text(b"\n"),
        ];
        assert_eq!(run(m, Action::Exit(0), &log), 0);
    }
}

#[test]
fn the_child_stays_far_inside_its_stack() {
    // The guard page catches an overflow; this keeps the margin wide:
    // measure how deep the deepest path (log lines, a failed PATH search,
    // the failure message) goes, by painting the stack first.
    let mut sp = Spawner::new(Method::Async);
    if sp.method() != Method::Async {
        return;
    }
    // SAFETY: no child has run yet; slot 0 is free and ours.
    let slot = unsafe { &mut *sp.slots[0] };
    let _ = slot.stack_top().unwrap();
    // Painting the stack before any child uses it.
    slot.stack.as_mut().unwrap().usable().fill(0xAA);
    let missing = CString::new("/nonexistent/a").unwrap();
    let missing2 = CString::new("/nonexistent/b").unwrap();
    let argv: CStrArray = [missing.as_c_str()].into_iter().collect();
    let envp = CStrArray::new();
    let paths = [missing.as_c_str(), missing2.as_c_str()];
    let log = [Part::Text(b""), Part::Pid, Part::Text(b"")];
    let child = Child {
        stdio: None,
        log: &log,
        default_signals: &[Signal::SIGPIPE, Signal::SIGTERM],
        sigmask: SigSet::empty(),
        action: Action::Exec(Exec {
            paths: &paths,
            argv: &argv,
            envp: &envp,
            exec_failed: b"",
            fds_failed: b"",
        }),
    };
    let pid = sp.spawn(&child).unwrap();
    nix::sys::wait::waitpid(pid, None).unwrap();
    // The kernel clears `busy` as the child exits, before waitpid
    // returns; the deadline only keeps a regression from hanging.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !slot.is_free() {
        assert!(std::time::Instant::now() < deadline, "slot never freed");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // The child is gone: the stack is ours to read.
    let bytes = slot.stack.as_mut().unwrap().usable();
    let untouched = bytes.iter().take_while(|&&b| b == 0xAA).count();
    let used = bytes.len() - untouched;
    assert!(
        used > 0 && used < 16 * 1024 / 4,
        "the child used {used} bytes of stack"
    );
}

/// The mappings of this process as (start, end, permissions).
fn maps() -> Vec<(usize, usize, String)> {
    let text = std::fs::read_to_string("/proc/self/maps").unwrap();
    text.lines()
        .map(|l| {
            let mut f = l.split_whitespace();
            let (a, b) = f.next().unwrap().split_once('-').unwrap();
            let perms = f.next().unwrap().to_string();
            let hex = |s: &str| usize::from_str_radix(s, 16).unwrap();
            (hex(a), hex(b), perms)
        })
        .collect()
}

#[test]
fn a_clone_stack_has_a_guard_page_below_it() {
    // The stack grows down: an overflow must hit a PROT_NONE page (and
    // kill the child with SIGSEGV) instead of writing over our memory.
    for method in [Method::Vfork, Method::Async] {
        let mut sp = Spawner::new(method);
        if sp.method() != method {
            continue;
        }
        let slot = if method == Method::Async {
            // SAFETY: no child has run yet; slot 0 is free and ours.
            unsafe { &mut *sp.slots[0] }
        } else {
            &mut sp.sync
        };
        let top = slot.stack_top().unwrap() as usize;
        let maps = maps();
        let stack = maps
            .iter()
            .find(|(a, b, _)| *a < top && top <= *b)
            .expect("the stack is mapped");
        assert!(stack.2.starts_with("rw"), "{stack:?}");
        assert!(
            stack.1 - stack.0 >= STACK_SIZE,
            "{method:?}: {stack:?} is smaller than {STACK_SIZE}"
        );
        let below = maps
            .iter()
            .find(|(_, b, _)| *b == stack.0)
            .unwrap_or_else(|| panic!("{method:?}: nothing mapped below {stack:x?}"));
        assert!(
            below.2.starts_with("---"),
            "{method:?}: {below:x?} below {stack:x?}"
        );
        // The child still runs and execs on it.
        assert_eq!(run(method, Action::Exit(3), &[]), 3);
    }
}

/// Recurse until the stack runs out: each frame keeps 256 bytes alive.
#[allow(unconditional_recursion)]
fn overflow(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 256]);
    overflow(depth + 1) + u64::from(frame[0])
}

extern "C" fn overflowing_child(_: *mut std::ffi::c_void) -> std::ffi::c_int {
    overflow(0) as std::ffi::c_int
}

#[test]
fn a_child_that_overflows_its_stack_dies_by_sigsegv() {
    // On the guard page: the fault is synchronous and every signal is
    // blocked, so the kernel kills the child (SIGSEGV) at once; the parent
    // (whose memory the child shares) goes on untouched.
    let mut sp = Spawner::new(Method::Vfork);
    let top = sp.sync.stack_top().unwrap();
    let canary = vec![0x5Au8; 1 << 16];
    let mut old = SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    )
    .unwrap();
    // SAFETY: the child runs `overflowing_child` on the slot's own stack
    // and touches nothing but that stack; CLONE_VFORK keeps us waiting
    // until the kernel has killed it.
    let pid = unsafe {
        libc::clone(
            overflowing_child,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::null_mut(),
        )
    };
    nix::sys::signal::pthread_sigmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&old), None)
        .unwrap();
    assert!(pid > 0, "{}", std::io::Error::last_os_error());
    match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap() {
        nix::sys::wait::WaitStatus::Signaled(_, Signal::SIGSEGV, _) => {}
        other => panic!("{other:?}"),
    }
    assert!(canary.iter().all(|&b| b == 0x5A));
    // The slot still works.
    assert_eq!(run(Method::Vfork, Action::Exit(4), &[]), 4);
}
