//! aurora-storage
