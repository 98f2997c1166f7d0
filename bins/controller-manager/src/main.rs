fn main() {
    let _ = controller_manager::VERSION;
}
