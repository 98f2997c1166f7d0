fn main() {
    let _ = apiserver::VERSION;
}
