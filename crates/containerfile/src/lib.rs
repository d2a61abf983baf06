//! aurora-containerfile: Containerfile syntax (being written).
