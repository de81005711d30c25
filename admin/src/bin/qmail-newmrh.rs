//! qmail-newmrh: compile control/morercpthosts (qmail-newmrh(8)).
fn main() {
    if let Err(f) = admin::newmrh::run(&control::Home::from_env()) {
        f.exit()
    }
}
