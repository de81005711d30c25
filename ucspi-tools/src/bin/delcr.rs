//! delcr: drop the CR of each CRLF. See delcr(1).
fn main() {
    let mut f = ucspi_tools::crlf::DelCr::default();
    std::process::exit(ucspi_tools::filter::run(&mut f));
}
