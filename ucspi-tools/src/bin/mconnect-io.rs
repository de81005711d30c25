//! mconnect-io: mconnect's copy loop under tcpclient. See mconnect(1).
fn main() {
    std::process::exit(ucspi_tools::mconnect_io::main());
}
