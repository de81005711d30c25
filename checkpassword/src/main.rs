//! checkpassword subprogram ...: check the user and password on fd 3,
//! then run the subprogram (checkpassword(8)).

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(checkpassword::run::main(&args));
}
