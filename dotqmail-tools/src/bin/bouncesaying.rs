//! bouncesaying: bounce the message with an error text (bouncesaying(1)).
fn main() {
    dotqmail_tools::helpers::bouncesaying(&dotqmail_tools::outcome::args()).exit()
}
