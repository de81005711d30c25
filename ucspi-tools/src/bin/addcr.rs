//! addcr: a CR before each LF. See addcr(1).
fn main() {
    std::process::exit(ucspi_tools::filter::run(&mut ucspi_tools::crlf::AddCr));
}
