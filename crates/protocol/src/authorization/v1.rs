//! placeholder filled below
