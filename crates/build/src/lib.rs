//! aurora-build (being written).
