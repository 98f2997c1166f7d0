//! Helpers for the cross-binary tests in `tests/tests/`: locate the built binaries, make a PKI,
//! start programs on free loopback ports, run the real `kubectl`.
