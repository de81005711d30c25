//! preline: prepend the mbox From line, Return-Path and Delivered-To to
//! the message a program reads.

use std::os::unix::ffi::OsStringExt;

use deliver::preline;

fn usage() -> ! {
    eprintln!("{}", preline::USAGE);
    std::process::exit(100);
}

fn main() {
    let var = |n: &str| std::env::var_os(n).map(OsStringExt::into_vec);
    let (Some(uf), Some(rp), Some(dt)) = (var("UFLINE"), var("RPLINE"), var("DTLINE")) else {
        usage();
    };
    let Some(args) = preline::parse_args(std::env::args_os().skip(1)) else {
        usage();
    };
    match preline::run(&args, [&uf, &rp, &dt], &mut std::io::stdin().lock()) {
        Ok(code) => std::process::exit(code),
        Err(f) => {
            eprintln!("{}", f.text);
            std::process::exit(f.code);
        }
    }
}
