//! maildir2mbox: move mail from a Maildir to an mbox (maildir2mbox(1)).
fn main() {
    // 1.03 runs with umask 077: the new mbox is the user's alone.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let var = std::env::var_os;
    match admin::maildir2mbox::run(
        var("MAILDIR").as_deref(),
        var("MAIL").as_deref(),
        var("MAILTMP").as_deref(),
    ) {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("{w}");
            }
        }
        Err(f) => f.exit(),
    }
}
