//! tcpcat: 0.88's script over tcpclient. See tcpcat(1).
fn main() {
    let args = std::env::args_os().skip(1).collect();
    std::process::exit(ucspi_tools::script::run(
        "tcpcat",
        ucspi_tools::script::TCPCAT,
        args,
    ));
}
