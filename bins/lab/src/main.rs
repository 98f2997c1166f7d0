fn main() {
    let _ = lab::VERSION;
}
