//! aurora-bundle
