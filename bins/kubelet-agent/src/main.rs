fn main() {
    let _ = kubelet_agent::VERSION;
}
