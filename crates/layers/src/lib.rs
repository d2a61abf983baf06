//! aurora-layers
